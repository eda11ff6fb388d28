"""A create answered with a success that is not the API's, by a server that has answered this run's creates
as the API does: a glitch of that server, not a wrong address.

A trial's proxy cut one create's 200 JSON in half after dozens of creates to the same URL had been taken,
and the whole batch stopped (exit 2) telling its user to check the base URL; through Chat Completions an
upstream's `{"error": ...}` sent with a 200 did the same after 15 rows, on every resume, so a nightly
deployment never finished. Now such an answer counts its create on its row as maybe sent (an attempt and
a possible duplicate, as before), the row is sent again within its attempts, the run goes on, and one
warning says so. It still stops at once when the server has answered no create properly in this run (a
wrong base URL's first answers), and when `ALIKE` such answers come in a row with no proper one between
(a server turned into a sign-in page mid-run). Every case compares the server's jobs per row with what
each row counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import NotTheApiError
from rowrelay.tasks.run.alike import ALIKE
from rowrelay.tasks.state import load
from tests.support.canned import Canned
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.mangled_creates import (
    SIGN_IN_PAGE,
    UPSTREAM_OVERLOADED,
    Mangle,
    Mangler,
    cut_in_half,
    mangling,
)
from tests.support.runs import Address, new_table, prompts, run_table, settings_for
from tests.support.said import Said

ROWS = 30
GLITCHED = 12
"""The create (by number) answered otherwise: a dozen were answered properly before it was sent."""
WAYS = [("emulator", "poll"), ("emulator", "stream"), ("chat", "poll")]
"""Backends and modes: a chat create is never streamed, so its one mode."""


@pytest.fixture
def said() -> Iterator[Said]:
    handler, logger = Said(), logging.getLogger("rowrelay")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def _run(tmp_path: Path, backend: str, mode: str, mangle: Mangle) -> tuple[Mangler, Exception | None]:
    """A run of ROWS rows through the proxy; the proxy, and what the run raised (None when it ended). A few
    rows in flight at once, so that the creates before the chosen one have been answered when it is."""
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))
    raised: Exception | None = None
    with running_emulator(config) as emu:
        async with mangling(emu.url, mangle) as proxy:
            settings = settings_for(
                Address(proxy.url), backend=backend, mode=mode, max_in_flight=4, api_key="sk-test"
            )
            try:
                await run_table(new_table(tmp_path / "batch", ROWS), settings, prompts(ROWS))
            except NotTheApiError as exc:
                raised = exc
            started, unanswered = jobs_of(proxy.emulator_url)
    # Every create the emulator got is a job, counted on its row (a glitched create's job is one its row
    # could not see: counted as maybe sent).
    frame = load(tmp_path / "batch")
    assert_every_job_is_paid_for(frame, started, unanswered)
    assert int(frame["attempts"].sum()) == sum(started.values()) == proxy.creates
    return proxy, raised


def _glitches(body: Canned | None) -> Mangle:
    return lambda number, answer: (body or cut_in_half(answer)) if number == GLITCHED else None


@pytest.mark.parametrize(("backend", "mode"), WAYS)
@pytest.mark.parametrize("body", [None, UPSTREAM_OVERLOADED], ids=["cut-in-half", "error-in-a-success"])
async def test_one_garbled_answer_mid_run_costs_its_row_an_attempt_not_the_batch(
    tmp_path: Path, said: Said, backend: str, mode: str, body: Canned | None
) -> None:
    proxy, raised = await _run(tmp_path, backend, mode, _glitches(body))
    assert raised is None, f"one garbled answer among proper ones stopped the run: {raised}"
    assert proxy.mangled == [GLITCHED]
    frame = load(tmp_path / "batch").set_index("row_key")
    assert set(frame["status"]) == {"completed"}, frame[["status", "error_message"]]
    hit = frame[frame["orphans"] > 0]
    assert len(hit) == 1, "the glitched create counted on its row as maybe sent, and that row alone"
    assert (hit["attempts"] == 2).all(), "sent again, within its attempts"
    told = [line for line in said.messages if "which is not the API's answer" in line]
    assert len(told) == 1, said.messages
    assert "taken as its glitch" in told[0]
    assert "check the base URL" not in told[0], "the address is right: this server answered properly"


@pytest.mark.parametrize(("backend", "mode"), WAYS)
async def test_a_first_answer_not_the_apis_still_stops_the_run(
    tmp_path: Path, backend: str, mode: str
) -> None:
    """Nothing properly answered yet in this run: most likely the wrong address, every create meeting it."""
    proxy, raised = await _run(tmp_path, backend, mode, lambda number, answer: cut_in_half(answer))
    assert isinstance(raised, NotTheApiError)
    assert "which is not the API's answer: check the base URL" in str(raised)
    assert len(proxy.mangled) <= ALIKE, "only the first few creates were let go before one was answered"


@pytest.mark.parametrize(("backend", "mode"), WAYS)
async def test_a_server_turned_sign_in_page_mid_run_stops_it_after_a_few_in_a_row(
    tmp_path: Path, backend: str, mode: str
) -> None:
    proxy, raised = await _run(
        tmp_path, backend, mode, lambda number, answer: SIGN_IN_PAGE if number >= GLITCHED else None
    )
    assert isinstance(raised, NotTheApiError)
    assert f"{ALIKE} such answers in a row" in str(raised), str(raised)
    # The stop comes at the ALIKEth, with those already on the wire (at most `max_in_flight`) answered so.
    assert ALIKE <= len(proxy.mangled) <= ALIKE + 4
    frame = load(tmp_path / "batch")
    assert (frame["status"] == "completed").sum() >= GLITCHED - 4
    assert "submitting" not in set(frame["status"]), "every create on the wire at the stop is counted"
