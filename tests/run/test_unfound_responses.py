"""A server that does not find the responses it made moments ago: vLLM's in-memory store behind a load
balancer over several replicas (the emulator's `replicas`), or a gateway that does not route polls.

Such a 404 is no expiry: no server lets a response go that young. Read as one, every row was recorded
expired and created again, up to its attempts (a trial's 20 rows ended expired with 60 jobs on the
server). The run stops at the first instead, in one line, its rows keeping their response ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import load
from tests.support.clock import ManualClock
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import new_table, prompts, running, settings_for

ROWS = 8


@pytest.mark.parametrize(
    ("mode", "emulated", "run_with"),
    [
        ("poll", {}, {"poll_streams": 0}),  # every row polled
        ("stream", {"drop_stream_after": 2}, {}),  # every stream cut, and resumed (GET ?stream=true)
    ],
)
async def test_a_server_that_does_not_find_its_own_responses_stops_the_run_before_paying_again(
    tmp_path: Path, mode: str, emulated: dict[str, Any], run_with: dict[str, Any]
) -> None:
    clock = ManualClock()  # the jobs run only when the test moves it: in flight throughout
    config = EmulatorConfig(replicas=2, latency=LatencySpec.parse("fixed:30"), **emulated)
    with running_emulator(config, clock=clock) as emu:
        table = new_table(tmp_path / "batch", ROWS)
        # A paid server's (an emulator's responses cost nothing: sent again, whatever their age).
        settings = settings_for(emu, backend="openai", api_key="sk-test", mode=mode, **run_with)
        session = open_session(settings, table, prompts(ROWS))
        async with running(session, table, BackendRefusedError) as run:
            with pytest.raises(BackendRefusedError) as stopped:
                await run
        started, unanswered = jobs_of(emu.url)
    said = str(stopped.value)
    assert said.startswith("the server does not find a response it made ")
    assert "Response with id 'resp_" in said  # the server's own words
    assert "each row would be created, and paid for, again; rows keep their response ids" in said
    # the way on names the wait a server that lost them for good (restarted) leaves: it said "fix that"
    assert stopped.value.way_on == (
        "fix that, then run it again; a server that lost them for good (restarted) has them recorded "
        "expired, and sent again by ROWRELAY_EXPIRED_POLICY, by a run 10 min after the last was made"
    )
    frame = load(tmp_path / "batch")
    assert set(started.values()) == {1}, started  # no row created again
    assert_every_job_is_paid_for(frame, started, unanswered)
    assert "expired" not in set(frame["status"])
    holding = frame[frame["status"].isin(["queued", "in_progress"])]
    assert len(holding) == sum(started.values())
    assert holding["response_id"].notna().all()  # for the next run to wait on
