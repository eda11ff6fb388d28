"""`rowrelay deploy` refuses, in one line naming the option and before anything starts (exit 2), what would
otherwise have been served wrongly or failed once Prefect had started; the CLI runs in a process of its
own, as users run it (forked from one that imported the CLI and Prefect once: tests/support/preforked.py).
A refusal starts no Prefect server: none is configured, and none is left behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import ROOT
from tests.support.local_prefect import stopped_afterwards
from tests.support.preforked import Preforked, preforked
from tests.support.tickets import TEMPLATE, write_tickets

FIVE_FIELDS = (
    "five fields, minute hour day-of-month month day-of-week, e.g. '0 2 * * *' (02:00 daily), or one of "
    "@hourly, @daily, @weekly, @monthly, @yearly"
)


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    """Each refusal read Prefect's rules in a cold process: ~2 s of imports, here once for the file."""
    with preforked(tmp_path_factory.mktemp("preforked"), prefect=True) as server:
        yield server


def _deploy(
    commands: Preforked, tmp_path: Path, *options: str, cron: str = "0 2 * * *", name: str = "nightly"
) -> tuple[int, str]:
    """`rowrelay deploy` of five tickets with `options`; its exit code and stderr. Each case here is
    refused: one that was not would serve until the server kills it (60 s), its code then -9."""
    source = write_tickets(tmp_path / "tickets.csv", 5)
    home = tmp_path / "home"
    env = {**os.environ, "ROWRELAY_HOME": str(home), "ROWRELAY_BACKEND": "emulator"}
    env.pop("PREFECT_API_URL", None)
    args = ["deploy", str(source), "--cron", cron, "--name", name, "--template", TEMPLATE,
            "--id-column", "ticket_id", *options]  # fmt: skip
    with stopped_afterwards(home):  # a case not refused (the code before these fixes) left servers
        done = commands.run(args, env, ROOT)
        assert not (home / "prefect-server.json").exists(), "a refusal starts no Prefect server"
    assert done.stdout == ""
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    ("cron", "fields"),
    [
        ("* * * * * * *", 7),  # accepted, it ran the batch every ten seconds or so
        ("0 2 * * * 30", 6),  # 02:00:30
        ("0 0 2 * * *", 6),  # Quartz's 02:00 daily: every second of 00:00 on the 2nd, 60 runs
    ],
)
def test_a_cron_of_more_than_five_fields_is_refused(
    commands: Preforked, tmp_path: Path, cron: str, fields: int
) -> None:
    """Prefect reads a sixth field as seconds and a seventh as years, so each of these was served, and
    ran the batch far more often than the five fields the help and the error spoke of."""
    code, said = _deploy(commands, tmp_path, cron=cron)
    assert (code, said) == (
        2,
        f'error: --cron: "{cron}" has {fields} fields (Prefect would read the sixth as seconds); '
        f"{FIVE_FIELDS}\n",
    )


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("a/b", "'a/b' holds /, which Prefect refuses in a deployment's name; e.g. nightly"),
        ("50%", "'50%' holds %, which Prefect refuses in a deployment's name; e.g. nightly"),
        ("", "'' is no name; e.g. nightly"),
        ("..", "'..' is no name; e.g. nightly"),
    ],
)
def test_a_name_prefect_cannot_serve_is_refused_naming_the_option(
    commands: Preforked, tmp_path: Path, name: str, said: str
) -> None:
    """'a/b' printed the Prefect UI's address, then a 47-line traceback from Prefect's runner (exit 1); ''
    was refused as a problem of the state directory it makes the default (`<state dir>/`), --name unsaid."""
    code, output = _deploy(commands, tmp_path, name=name)
    assert (code, output) == (2, f"error: --name: {said}\n")


def test_a_state_given_that_cannot_hold_the_batch_is_named_as_given(
    commands: Preforked, tmp_path: Path
) -> None:
    """A given --state was called "the default": deploy did not hand it to the request the check reads."""
    given = tmp_path / "empty.json"
    given.write_text("{}")
    code, said = _deploy(commands, tmp_path, "--state", str(given))
    assert code == 2, said
    assert said.startswith(f"error: --state {given}: "), said
    assert "the default" not in said
    assert said.count("\n") == 1, said


@pytest.mark.parametrize(
    ("zone", "said"),
    [
        ("America/NewYork", "'America/NewYork' is no IANA time zone name; did you mean America/New_York? "),
        ("CET-1CEST", "'CET-1CEST' is no IANA time zone name; "),  # a POSIX rule TZ takes; Prefect does not
    ],
)
def test_a_time_zone_prefect_cannot_read_the_cron_in_is_refused_naming_the_option(
    commands: Preforked, tmp_path: Path, zone: str, said: str
) -> None:
    """--timezone is new: without it the cron was read in UTC whatever the machine's zone (README,
    Scheduled jobs); a name Prefect would refuse is refused before anything starts."""
    code, output = _deploy(commands, tmp_path, "--timezone", zone)
    assert (code, output) == (2, f"error: --timezone: {said}e.g. America/New_York, Europe/Paris, UTC\n")
