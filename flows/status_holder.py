"""Whether a live run holds a batch, as `rowrelay status` says it.

A batch's rows `in_progress` look the same whether a run is waiting on them or the run that sent them
was killed (a crash, a reboot, `kill -9`): status showed `in_progress 9` either way, and a monitor could
not tell a night still going from one that died, its rows waiting for the next run. The batch's lease
tells them apart (tasks/state/lease.py): a live run holds it, and refreshes its heartbeat; a run that is
gone leaves its lease behind, stale (its pid gone on this host, or its heartbeat older than the lease's
timeout), and the next run takes it over. Status reads the leases the way a run deciding whether to take
one over does (`stale_reason`), and only reads them: it takes no lock and writes nothing, so it stays
fast and can be run while the batch runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rowrelay.tasks.records import HOLDING_TOKEN, IN_FLIGHT, rows
from rowrelay.tasks.state.files import LEASES, MAIN_WRITER
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, LeaseInfo, read_lease, stale_reason
from rowrelay.tasks.state.orphans import orphans_next
from rowrelay.tasks.state.schema import to_datetime

__all__ = ["Holding", "being_sent_next", "holding", "holding_said"]


@dataclass(frozen=True, slots=True)
class Holding:
    """Who holds a batch: the live run (the main writer's lease first, else any shard's), or, when
    none does, the lease the last run left behind, stale (that run is gone), and why it is."""

    live: LeaseInfo | None
    gone: LeaseInfo | None = None
    why_gone: str | None = None
    unreadable: str | None = None
    """Why the leases could not be read (a directory this user may not list): who holds it is unknown."""

    def as_json(self) -> dict[str, Any] | None:
        """`status --json`'s `held_by`: the live run holding the batch, or None when none does."""
        if self.live is None:
            return None
        return {
            "host": self.live.host,
            "pid": self.live.pid,
            "since": to_datetime(self.live.since).isoformat(timespec="seconds"),
            "heartbeat": to_datetime(self.live.heartbeat).isoformat(timespec="seconds"),
            "live": True,
        }


def holding(state: Path, now: float) -> Holding:
    """Who holds the batch at `state` at time `now` (seconds since the epoch), read from its leases."""
    folder = state / LEASES
    try:
        paths = sorted(folder.glob("*.json"), key=lambda path: path.stem != MAIN_WRITER)
        leases = [lease for lease in (read_lease(path) for path in paths) if lease is not None]
    except OSError as exc:
        return Holding(None, unreadable=f"its leases cannot be read ({exc.strerror or exc})")
    stale = [(lease, stale_reason(lease, now, LEASE_TIMEOUT)) for lease in leases]
    live = [lease for lease, why in stale if why is None]
    if live:
        return Holding(live[0])
    gone = [(lease, why) for lease, why in stale if why is not None]
    if not gone:
        return Holding(None)
    latest, why = max(gone, key=lambda left: left[0].heartbeat)
    return Holding(None, latest, why)


def holding_said(held: Holding, counts: Mapping[str, int], being_sent: Callable[[], str]) -> str | None:
    """Status's line on who holds the batch: `held by a run: host H, pid P (live)` while one does; when
    none does and rows are in flight (`counts`: rows by status), what the next run does with them (and
    which run left them, gone); None when none does and nothing is in flight (nothing to say).

    A row holding a response id waits for the next run, which collects it. A row in flight with none
    (`submitting`: every row of a `--backend chat` batch, which has no ids, or a create whose id was
    never written) cannot be waited on: the next run counts it as maybe sent, an attempt and an orphan
    (`state.orphans`), then does with it what `being_sent()` says (`being_sent_next`: sends it again, or
    holds it, or has no attempt left for it). Status said all of them "wait for the next run", of a
    killed chat batch's 64 rows too, and "sends them again" under ROWRELAY_ORPHAN_POLICY=hold."""
    if held.live is not None:
        return f"held by a run: host {held.live.host}, pid {held.live.pid} (live)"
    if held.unreadable is not None:
        return f"whether a run holds it is not known: {held.unreadable}"
    waiting = sum(counts.get(status, 0) for status in HOLDING_TOKEN)
    unnamed = sum(counts.get(status, 0) for status in IN_FLIGHT - HOLDING_TOKEN)
    if not waiting and not unnamed:
        return None
    left = ""
    if held.gone is not None:
        gone = held.gone
        left = f" (the lease its last run left, host {gone.host}, pid {gone.pid}, is stale: {held.why_gone})"
    said: list[str] = []
    if waiting:
        holding_ids = "" if not unnamed else " holding a response id"
        they = (
            f"the row{holding_ids} in flight waits"
            if waiting == 1
            else f"the {rows(waiting)}{holding_ids} in flight wait"
        )
        said.append(f"{they} for the next run")
    if unnamed:
        they = "the row" if unnamed == 1 else f"the {rows(unnamed)}"
        each = "it" if unnamed == 1 else "each"
        said.append(
            f"{they} in flight with no response id (a --backend chat row never has one) cannot be waited "
            f"on: the next run counts {each} as maybe sent (an attempt and an orphan) and {being_sent()}"
        )
    return f"no run holds it{left}: {'; '.join(said)}"


def being_sent_next(state: Path, max_attempts: int | None = None) -> str:
    """What the next run does with the rows a gone run left being sent with no response id, in the words
    after "the next run ": it spends an attempt of each as it opens the batch (`state.orphans`), then
    decides as for any orphan (`orphans_next`), under the batch's orphan policy and `max_attempts`, None
    for the batch's own (`next_run_policies_at`: status spoke by the environment's, so a batch run with
    --max-attempts 5, or under `hold`, read "sends them again" from a shell that did not say so), by which
    `cancel` notes those rows as it makes them orphans too (flows/cancelling.py)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from rowrelay.tasks.state import read_table

    table, _damaged = read_table(state, skip_damaged=True)  # words only: a damaged file is status's to say
    sending = pc.and_(pc.equal(table["status"], pa.scalar("submitting")), pc.is_null(table["response_id"]))
    spent = table.filter(sending)["attempts"].to_pylist()
    if not spent:  # each holds an id after all: the next run opening the batch waits on it
        return "waits on their responses, whose ids it finds"
    from rowrelay.tasks.state.batch_policies import next_run_policies_at

    policies = next_run_policies_at(state)
    if max_attempts is None:
        max_attempts = policies.max_attempts
    return orphans_next(((attempts or 0) + 1 for attempts in spent), max_attempts, policies.orphan_policy)
