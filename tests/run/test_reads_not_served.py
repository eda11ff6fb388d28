"""A server without `GET /responses/{id}` (405 or 501 to every poll and stream resume): the run stops at
once, saying so in one line, its rows keeping their response ids, as for a 404 that is not the API's.
Before, each poll was retried as a passing fault until `--give-up-after` (an hour: "retrying 136 errors
(last: server error (405): Method Not Allowed)"), which then said the server had answered nothing.
A cancel so answered stays the row's (tests/run/test_uncancellable.py). A server that serves plain polls
but no streamed read (`GET /responses/{id}?stream=true`) stops nothing: its rows are polled."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.relay import relaying
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

ROWS = 4
A_READ = re.compile(r"/v1/responses/[^/]+")


@pytest.mark.parametrize("transport", ["lean", "sdk"])
@pytest.mark.parametrize("status", [405, 501])
async def test_a_server_that_serves_no_reads_stops_the_run_with_rows_keeping_their_ids(
    emulator: RunningEmulator, tmp_path: Path, transport: str, status: int
) -> None:
    """Polled (no stream first: the emulator's streams end whole, needing no read). A stream's resume
    so answered is translated alike (tests/llm/test_translate.py)."""

    def refusal(method: str, path: str, query: Mapping[str, str]) -> int | None:
        return status if method == "GET" and A_READ.fullmatch(path) else None

    async with relaying(emulator.url, refusal) as server:
        settings = settings_for(Address(server.url), transport=transport, poll_streams=0, give_up_after=10.0)
        with pytest.raises(BackendRefusedError) as stopped:
            await run_table(new_table(tmp_path / "batch", ROWS), settings, prompts(ROWS))
    started, unanswered = jobs_of(emulator.url)
    frame = load(tmp_path / "batch")
    said = str(stopped.value)
    assert f"was answered {status} (" in said
    assert "the server does not let rowrelay read the responses it made" in said
    assert "rows keep their response ids" in said
    assert "--backend chat" in said
    assert stopped.value.way_on is None  # its words name it: the command line adds no "fix that"
    assert server.refused, "a read was refused"
    holding = frame[frame["response_id"].notna()]
    assert len(holding) == sum(started.values()), "every job made is held by its row"
    assert set(holding["status"]) <= {"queued", "in_progress"}
    assert set(frame[frame["response_id"].isna()]["status"]) <= {"pending"}
    assert (frame["orphans"] == 0).all()
    assert_every_job_is_paid_for(frame, started, unanswered)


@pytest.mark.parametrize("transport", ["lean", "sdk"])
@pytest.mark.parametrize("status", [405, 501])
async def test_a_server_that_serves_polls_but_no_streamed_reads_has_its_rows_polled(
    emulator: RunningEmulator, tmp_path: Path, transport: str, status: int
) -> None:
    """Each create's stream is cut after its first event, so its wait resumes the stream (`GET
    ?stream=true&starting_after=0`), which this server refuses: the row is polled instead, as past a
    stream window. It stopped the run (exit 2, "each row would be created, and paid for, again", as if
    the server served no reads), where every poll would have been answered."""

    def refusal(method: str, path: str, query: Mapping[str, str]) -> int | None:
        streamed = query.get("stream") == "true"
        return status if method == "GET" and A_READ.fullmatch(path) and streamed else None

    async with relaying(emulator.url, refusal, cut_created_streams=True) as server:
        settings = settings_for(Address(server.url), transport=transport, mode="stream", give_up_after=10.0)
        report = await run_table(new_table(tmp_path / "batch", ROWS), settings, prompts(ROWS))
    started, unanswered = jobs_of(emulator.url)
    frame = load(tmp_path / "batch")
    assert server.refused, "a stream's resume was refused"
    assert all("GET /v1/responses/" in refused for refused in server.refused)
    assert report.counts.get("completed") == ROWS
    assert (frame["status"] == "completed").all()
    assert (frame["orphans"] == 0).all()
    assert all(started[key] == 1 for key in frame["row_key"]), "each row paid for once"
    assert_every_job_is_paid_for(frame, started, unanswered)
