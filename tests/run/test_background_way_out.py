"""A server that refuses background mode (400, naming `background` or naming nothing) stops the run with
nothing spent, and the stop names the way out: the user can seldom change the server, and the Chat
Completions backend needs no background mode. It said only the server's words, and the command line
added "fix that, then run it again"; a row refused for anything else is told nothing of it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.emulator.config import BackgroundRefusal
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.llm.unusual_statuses import every_create_refused
from rowrelay.tasks.state import load
from tests.support.duplicates import jobs_of
from tests.support.runs import run_batch

ROWS = 8
WAY_OUT = (
    "Without background mode the server cannot serve rowrelay's Responses backends: --backend chat sends "
    "Chat Completions, which need none, to a server that has them"
)


@pytest.mark.parametrize("refusal", ["unnamed", "param"])
async def test_a_server_refusing_background_mode_stops_the_run_naming_the_way_out(
    tmp_path: Path, refusal: BackgroundRefusal
) -> None:
    with running_emulator(EmulatorConfig(background_refusal=refusal)) as emu:
        with pytest.raises(BackendRefusedError) as stopped:
            await run_batch(emu, tmp_path / "batch", ROWS)
        started, _ = jobs_of(emu.url)
    said = str(stopped.value)
    assert "does not support the background mode" in said  # the server's words
    assert said.endswith(f". {WAY_OUT}"), said
    assert stopped.value.way_on is None  # said once: the command line adds no "fix that" (test_stops_way_on)
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) == {"pending"}
    assert (frame["attempts"] == 0).all()
    assert sum(started.values()) == 0


@pytest.mark.parametrize(
    ("param", "words"),
    [("input", "background noise in the input"), ("reasoning.effort", "not supported"), (None, "bad input")],
)
def test_other_refusals_are_said_as_they_were(param: str | None, words: str) -> None:
    refused = every_create_refused(f"refused: {words}.", param, words)
    assert str(refused) == f"refused: {words}."
    assert refused.way_on == "fix that, then run it again"


def test_a_stop_named_for_its_endpoint_or_pickled_keeps_its_way_on() -> None:
    """One endpoint of several names itself in the stop (the runner's `naming`); Prefect may pickle it."""
    refused = every_create_refused("refused: no background.", "background", "no background")
    for kept in (refused.naming("endpoint 'east'"), pickle.loads(pickle.dumps(refused))):
        assert type(kept) is BackendRefusedError
        assert (kept.way_on, kept.refused) == (None, True)
    assert str(refused.naming("endpoint 'east'")) == f"endpoint 'east': {refused}"
