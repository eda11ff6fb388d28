"""`rowrelay services [stop [NAME]]`: the long-lived processes rowrelay started and left running for later
runs (the embedded emulator, the local Prefect server and the warm runner of flows/warm.py), listed from
their records under rowrelay's home, and stopped (all of them, or one by name). Nothing else stops the
first two: they outlive the runs on purpose. The runner exits by itself after an idle hour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import psutil
import typer

from rowrelay.flows import detached, embedded, emulator_records, local_prefect, warm
from rowrelay.flows.cli_errors import fail
from rowrelay.flows.prefect_api import configured_api
from rowrelay.flows.service_users import announced_users, described, no_run_announcing, port_of, users
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.settings import load_settings

app = typer.Typer(
    name="services",
    add_completion=False,
    pretty_exceptions_enable=False,
    help="The processes rowrelay started and keeps for later runs (the embedded emulator, the local "
    "Prefect server, the warm runner): alone, list them (pid, address, since when, memory, alive?); "
    "`stop [NAME]` stops them.",
    no_args_is_help=False,
)


@dataclass(frozen=True)
class Service:
    name: str
    pid: int
    address: str
    since: float
    alive: bool

    def row(self) -> list[str]:
        since = datetime.fromtimestamp(self.since).isoformat(sep=" ", timespec="seconds")
        return [self.name, str(self.pid), self.address, since, self.memory(), "yes" if self.alive else "no"]

    def memory(self) -> str:
        """Its resident memory, `-` if it does not run: the embedded emulator's grows with the responses it
        holds (about 4 KB each) until it is stopped, which a user running big batches on it should see."""
        if not self.alive:
            return "-"
        try:
            resident = psutil.Process(self.pid).memory_info().rss
        except psutil.Error:  # gone since it was looked at, or not ours to read
            return "-"
        return f"{resident / 2**20:,.0f} MB"


def recorded(home: Path) -> list[Service]:
    """The services with a record under `home`, whether or not their process still runs."""
    found = [
        _from_record("emulator", e, "url", emulator_records.MARKER)
        for e in emulator_records.emulator_records(home)
    ]
    server = local_prefect.read_server(home)
    if server is not None:
        alive = local_prefect.alive(server)
        found.append(Service(local_prefect.NAME, server.pid, server.ui, server.started_at, alive))
    runner = warm.runner_record(home)
    if runner is not None:
        found.append(_from_record("runner", runner, "socket", warm.MARKER))
    return found


def _from_record(name: str, record: Mapping[str, Any], address: str, marker: str) -> Service:
    """A service from its JSON record (`pid`, `started_at`, and its address under `address`); whether it
    runs is asked of the process with that pid, which must still carry `marker` (not a reused pid)."""
    pid = record.get("pid")
    pid = pid if isinstance(pid, int) else 0
    since = float(record.get("started_at") or 0.0)
    return Service(name, pid, str(record.get(address)), since, detached.runs(pid, marker))


_STOPPERS: dict[str, Callable[[Path], object]] = {
    "emulator": embedded.stop_emulator,
    local_prefect.NAME: local_prefect.stop_server,
    "runner": warm.stop_runner,
}


def _home() -> Path:
    try:
        return load_settings().home.expanduser()
    except UsageError as exc:
        fail(str(exc))


@app.callback(invoke_without_command=True)
def listing(context: typer.Context) -> None:
    """List them: name, pid, address, since when, resident memory, and whether the process still runs."""
    if context.invoked_subcommand is not None:
        return
    home = _home()
    services = recorded(home)
    if not services:
        typer.echo(f"no services recorded in {home}")
        return
    rows = [["name", "pid", "address", "since", "memory", "alive"], *(service.row() for service in services)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    typer.echo(what_they_are(service.name for service in services), err=True)
    server = local_prefect.read_server(home)
    if server is not None and local_prefect.alive(server):  # on stderr: stdout stays the table scripts read
        hint = _prefect_cli_hint(server.url, configured_api())
        if hint is not None:
            typer.echo(hint, err=True)


_ROLES = {
    "emulator": "answers the runs that have no API key or base URL, in place of OpenAI",
    local_prefect.NAME: "records the runs (its UI at its address)",
    "runner": "keeps rowrelay loaded, so the next `rowrelay run` starts at once; it exits after an idle hour",
}


def what_they_are(names: Iterable[str]) -> str:
    """What each service listed is for, a line each, and how to stop them: said under the table, on stderr
    (stdout stays the table scripts read). The table alone listed three processes a first run had left
    behind, the runner's address a socket, and said neither what they were for nor how to stop them."""
    said = [f"{name}: {_ROLES[name]}" for name in dict.fromkeys(names) if name in _ROLES]
    stop = "`rowrelay services stop` stops them all, `rowrelay services stop NAME` one"
    return "\n".join([*said, f"they keep running for later runs: {stop}"])


UNTOLD_PREFECT_CLI = (
    "without it, a `prefect` command in a plain shell works on a throwaway server of its own, and what it "
    "makes there (an automation, say) is lost"
)
"""Why Prefect's CLI must be given the local server's address: said with each hint of a `prefect` command."""


def _prefect_cli_hint(server_url: str, configured: str | None) -> str | None:
    """What `rowrelay services` says of pointing Prefect's CLI at the local server at `server_url`, where
    Prefect's settings in this shell name the API `configured` (None: none, so a `prefect` command works on
    a throwaway server). Nothing when they name this server already: the hint told a user to export what
    was set. When they name another, so says the hint: that shell's `prefect` commands (and rowrelay's
    runs, which record where Prefect's settings say) reach that server, not this one."""
    if configured is None:
        return (
            f"to point Prefect's CLI at the local Prefect server: export PREFECT_API_URL={server_url} "
            f"({UNTOLD_PREFECT_CLI})"
        )
    if configured.rstrip("/") == server_url.rstrip("/"):
        return None
    return (
        f"note: Prefect's settings here name another API, {configured}: Prefect's CLI in this shell (and a "
        f"rowrelay run started from it) reaches that server, not the local Prefect server; to reach this "
        f"one: export PREFECT_API_URL={server_url}"
    )


@app.command()
def stop(
    name: Annotated[
        str | None,
        typer.Argument(
            help="emulator, prefect or runner (default: all). Stopping the emulator loses the responses it "
            "holds: a batch still waiting for them sends those rows again. Stopping the runner leaves the "
            "runs it serves going."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Stop the emulator or the Prefect server even while a run uses it (the run starts it again "
            "at once; the rows the emulator held are sent again).",
        ),
    ] = False,
) -> None:
    """Stop them (all, or the one named) and forget their records. Refused while a run uses the emulator
    or the Prefect server, unless --force."""
    if name is not None and name not in _STOPPERS:
        fail(f"no service named {name!r} (the services are {', '.join(_STOPPERS)})")
    home = _home()
    names = [name] if name else list(_STOPPERS)
    with no_run_announcing(home):  # no run starts using them between the check and the stop
        used = _stop(home, names, force)
    if used:
        typer.echo(f"note: {_uses(used)}, and will start what it uses again")


def _stop(home: Path, names: list[str], force: bool) -> dict[str, list[int]]:
    """Stop the services `names`, unless a run uses one and not `force` (refused, exit 1); returns the
    runs found using them, by service."""
    used = _in_use(home, names)
    if used and not force:
        # Only what was asked to stop, and used: a refusal of `stop emulator` named the Prefect server too.
        again = "it stops" if len(used) == 1 else "they stop"
        lost = (
            ", and the responses the emulator holds would be lost, their rows sent again"
            if "emulator" in used
            else ""
        )
        fail(
            f"{_uses(used)}: a run starts {_said(used)} again as soon as {again}{lost}; stop the run first "
            f"(Ctrl-C), or pass --force to stop {'it' if len(used) == 1 else 'them'} anyway",
            code=1,
        )
    for service in names:
        pids = [found.pid for found in recorded(home) if found.name == service and found.alive]
        if _STOPPERS[service](home) and pids:
            for pid in pids:
                typer.echo(f"stopped {service} (pid {pid})")
        else:
            typer.echo(f"{service}: not running")
    return used


def _in_use(home: Path, names: list[str]) -> dict[str, list[int]]:
    """The live services among `names` that a run restarts when stopped, by name, with their users' pids:
    the runs connected to them, and those that announced they will be (a run's first seconds)."""
    announced = announced_users(home)
    found: dict[str, list[int]] = {}
    for service in recorded(home):
        port = port_of(service.address)
        if service.name in names and service.name != "runner" and service.alive and port is not None:
            pids = sorted({*users(service.pid, port), *announced.get(service.name, [])})
            if pids:
                found.setdefault(service.name, []).extend(pids)
    return found


def _uses(used: dict[str, list[int]]) -> str:
    """`a live run (pid N: rowrelay run ...) uses the embedded emulator and the local Prefect server`."""
    pids = sorted({pid for pids in used.values() for pid in pids})
    runs = "; ".join(described(pid) for pid in pids)
    return f"a live run ({runs}) uses {_said(used)}"


def _said(used: dict[str, list[int]]) -> str:
    """`the embedded emulator and the local Prefect server`: the services in `used`, by what they are."""
    said = {"emulator": "embedded emulator", local_prefect.NAME: "local Prefect server"}
    return " and ".join(f"the {said.get(name, name)}" for name in used)
