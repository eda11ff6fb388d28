"""`rowrelay services` says, under its table, what each process listed is for and how to stop them. A
first run leaves three processes behind; the table named them (the runner by a socket's path) and said
neither why they were there nor how to stop them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rowrelay.flows.embedded import ensure_emulator
from rowrelay.flows.services import what_they_are
from tests.support.cli import rowrelay
from tests.support.local_prefect import stopped_afterwards

STOP = (
    "they keep running for later runs: `rowrelay services stop` stops them all, "
    "`rowrelay services stop NAME` one"
)


def test_each_kind_listed_is_said_once_in_the_table_s_order() -> None:
    assert what_they_are(["emulator", "prefect", "emulator", "runner"]).splitlines() == [
        "emulator: answers the runs that have no API key or base URL, in place of OpenAI",
        "prefect: records the runs (its UI at its address)",
        "runner: keeps rowrelay loaded, so the next `rowrelay run` starts at once; it exits after an idle "
        "hour",
        STOP,
    ]


@pytest.mark.timeout(120)
def test_the_listing_says_what_a_live_emulator_is_and_how_to_stop_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ROWRELAY_", "OPENAI_", "AZURE_"))},
        "ROWRELAY_HOME": str(home),
    }
    with stopped_afterwards(home):
        url, _ = ensure_emulator(home, "--latency fixed:0")
        listed = rowrelay(["services"], env)
    assert listed.returncode == 0, listed.stderr
    [row] = [line.split() for line in listed.stdout.splitlines()[1:]]  # stdout: the table alone
    assert (row[0], row[2], row[-1]) == ("emulator", url, "yes")
    assert listed.stderr.splitlines() == [
        "emulator: answers the runs that have no API key or base URL, in place of OpenAI",
        STOP,
    ]
