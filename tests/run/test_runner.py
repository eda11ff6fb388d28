"""The runner against the real emulator over a real socket, through the official SDK."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openai
import pandas as pd
import pytest
from prefect.exceptions import TerminationSignal

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm import BackendRefusedError, NotTheApiError, RowRequest, Snapshot
from rowrelay.tasks.run import open_session, submit
from rowrelay.tasks.run.alike import ALIKE
from rowrelay.tasks.run.cancel import CANCEL_CONCURRENCY
from rowrelay.tasks.run.frozen_heap import heap_frozen
from rowrelay.tasks.state import StateTable, load, summary
from tests.support.clock import ManualClock
from tests.support.duplicates import jobs_of
from tests.support.inspection import eventually, reading
from tests.support.runs import (
    ROWS,
    Address,
    cancel_midway,
    creates_per_row,
    left_in_flight,
    new_table,
    prompts,
    run_batch,
    run_table,
    running,
    settings_for,
)
from tests.support.scripted_replies import Reply, error, proxy_page, serving
from tests.support.suite_freeze import suite_freeze_set_aside


@pytest.fixture
def slow_emulator() -> Iterator[RunningEmulator]:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.4"), seed=3)) as emu:
        yield emu


async def test_poll_mode_completes_every_row_exactly_once(
    slow_emulator: RunningEmulator, tmp_path: Path
) -> None:
    report = await run_batch(slow_emulator, tmp_path / "batch")
    assert report.counts == {"completed": ROWS}
    assert set(creates_per_row(slow_emulator).values()) == {1}
    frame = load(tmp_path / "batch")
    held = {r["metadata"]["rowrelay_row"]: r for r in slow_emulator.emulator.listing()}
    assert all(meta["rowrelay_batch"] == "test-batch" for meta in (r["metadata"] for r in held.values()))
    assert (frame["status"] == "completed").all()
    assert frame["output_text"].str.len().min() > 0
    assert (frame["input_tokens"] > 0).all()
    assert (frame["output_tokens"] > 0).all()
    assert set(frame["response_id"]) == {held[key]["id"] for key in frame["row_key"]}
    assert (frame["attempts"] == 1).all()


async def test_the_first_creates_leave_without_waiting_out_the_commit_interval(tmp_path: Path) -> None:
    """The write-ahead commit of `submitting` waited out the commit interval, begun by the plan's own
    write: every run's first creates left 0.1-0.2 s late (py-spy of a warm `rowrelay run`). Here the
    interval is an hour, so only a first commit made at once lets them leave; each row is still durable
    with its response id, one job a row."""
    rows = 3
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=ManualClock()) as emu:
        table = StateTable.open(tmp_path / "batch", batch_id="test-batch", checkpoint_interval=3600)
        table.add_pending((f"row-{i:04d}", i, f"hash-{i}") for i in range(rows))
        session = open_session(settings_for(emu), table, prompts(rows))
        async with running(session, table):
            await eventually(reading(lambda: len(emu.emulator.listing())), lambda n: n == rows)
            held = await eventually(
                reading(lambda: load(tmp_path / "batch")),
                lambda frame: bool(frame["response_id"].notna().all()),
            )
        assert dict(zip(held["row_key"], held["attempts"], strict=True)) == dict(creates_per_row(emu))
        assert set(creates_per_row(emu).values()) == {1}


async def test_recorded_output_is_exactly_what_the_server_holds(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await run_batch(emulator, tmp_path / "batch", rows=5)
    frame = load(tmp_path / "batch")
    client = openai.AsyncOpenAI(base_url=emulator.url, api_key="x")
    for response_id, text in zip(frame["response_id"], frame["output_text"], strict=True):
        assert (await client.responses.retrieve(response_id)).output_text == text
    await client.close()


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_stream_mode_resumes_dropped_streams_from_the_cursor(tmp_path: Path, transport: str) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"), drop_stream_after=4)
    with running_emulator(config) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows=20, mode="stream", transport=transport)
        assert report.counts == {"completed": 20}
        assert report.counters.resumes >= 20  # every stream was cut at least once
        assert set(creates_per_row(emu).values()) == {1}
        frame = load(tmp_path / "batch")
        assert (frame["sequence_number"] > 4).all()  # the cursor followed the stream to its end
        stats = emu.emulator.stats()
        assert stats["routes"]["GET /v1/responses/{response_id}"] >= 20


async def test_failed_responses_are_retried_then_recorded_with_their_error(tmp_path: Path) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), fail_rate=0.5, seed=11)
    with running_emulator(config) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows=40, max_attempts=2)
    frame = load(tmp_path / "batch")
    assert set(report.counts) <= {"completed", "failed"}
    failed = frame[frame["status"] == "failed"]
    assert len(failed) > 0
    assert (frame["status"] == "completed").sum() > 0
    assert (failed["attempts"] == 2).all()
    assert (failed["error_code"] == "server_error").all()
    assert failed["note"].str.contains("gave up after 2 attempts").all()
    retried = frame[(frame["status"] == "completed") & (frame["attempts"] == 2)]
    assert len(retried) > 0  # some rows failed once and then succeeded


async def test_http_500s_are_counted_as_maybe_sent_and_429s_spend_no_attempts(tmp_path: Path) -> None:
    """A 429 turned the create away: nothing spent. A 500, even in the API's envelope, may come after
    the job was made (the emulator's start nothing; a server's need not): each is counted on its row as
    maybe sent (tests/run/test_server_errors_on_creates.py)."""
    config = EmulatorConfig(
        latency=LatencySpec.parse("fixed:0.05"), error_rate=0.3, rpm=600, rate_window=1.0, seed=5
    )
    with running_emulator(config) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows=40, max_attempts=8)
        codes = emu.emulator.stats()["status_codes"]
        jobs, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "batch")
    unfinished = frame[frame["status"] != "completed"]
    assert report.counts == {"completed": 40}, unfinished[["row_key", "status", "error_message", "note"]]
    assert codes.get("500", 0) > 0
    assert codes.get("429", 0) > 0
    assert int(frame["orphans"].sum()) == codes["500"]  # each 500 counted once, as maybe sent
    assert (frame["attempts"] == frame["orphans"] + 1).all()  # a 429 spent nothing
    assert all(jobs[key] == 1 for key in frame["row_key"])
    assert not unanswered
    assert report.counters.rate_limited > 0


async def test_expired_tokens_are_resubmitted_by_policy_then_left_expired(tmp_path: Path) -> None:
    """Rows an earlier run left in flight an hour ago, resumed once the server has let their responses go
    (its retention): each is recorded expired and sent again while it has attempts left; one on its last
    attempt is left expired. (A 404 on a response made moments ago is no expiry: the run stops,
    tests/run/test_unfound_responses.py.)"""
    clock = ManualClock()
    rows, asked = 6, prompts(6)
    requests = [
        RowRequest(key, prompt, None, "gpt-4.1-mini", {"rowrelay_row": key}) for key, prompt in asked.items()
    ]
    with running_emulator(EmulatorConfig(retention=0.5), clock=clock) as emu:
        table = new_table(tmp_path / "batch", rows)
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        await left_in_flight(table, emu.url, requests[:3], attempts=1, submitted_at=an_hour_ago)
        await left_in_flight(table, emu.url, requests[3:], attempts=2, submitted_at=an_hour_ago)
        clock.advance(3_600.0)  # past the retention of every response made then
        report = await run_table(table, settings_for(emu, max_attempts=2), asked)
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "batch").set_index("row_key")
    assert report.counts == {"completed": 3, "expired": 3}
    assert (frame["attempts"] == 2).all()
    resent, left = frame.index[:3], frame.index[3:]
    assert (frame.loc[resent, "status"] == "completed").all()
    # The expired job and the new one: each known and ended, so neither is a possible duplicate.
    assert [started[key] for key in resent] == [2, 2, 2]
    assert (sum(unanswered.values()), frame["orphans"].sum()) == (0, 0)
    assert (frame.loc[left, "status"] == "expired").all()
    assert frame.loc[left, "note"].str.contains("no longer holds").all()


async def test_stuck_responses_are_cancelled_after_the_queued_timeout_and_retried(tmp_path: Path) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), stuck_rate=0.4, seed=2)
    with running_emulator(config) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows=20, queued_timeout=1.5, max_attempts=5)
        statuses = Counter(r["status"] for r in emu.emulator.listing())
    assert report.counts == {"completed": 20}
    assert statuses["cancelled"] > 0  # the stuck ones were cancelled on the server


async def test_cancelling_the_run_cancels_in_flight_responses_on_the_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30"))) as emu:

        def all_running() -> bool:
            return sum(r["status"] in ("queued", "in_progress") for r in emu.emulator.listing()) >= 10

        with caplog.at_level(logging.WARNING, logger="rowrelay.runner"):
            await cancel_midway(emu, tmp_path / "batch", 10, all_running)
        assert {r["status"] for r in emu.emulator.listing()} == {"cancelled"}
    frame = load(tmp_path / "batch")
    assert (set(frame["status"]), set(frame["error_type"])) == ({"cancelled"}, {"interrupted"})
    # In the words the CLI's closing line and `rowrelay cancel` use.
    said = [r.getMessage() for r in caplog.records if r.name == "rowrelay.runner"]
    assert said == ["run cancelled: 10 in-flight responses were cancelled"]


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_the_next_run_sends_again_the_rows_a_stopped_run_cancelled_each_job_counted(
    tmp_path: Path, mode: str
) -> None:
    """Ctrl-C, SIGTERM (a supervisor, a pod evicted) or a flow cancellation cancels the run's in-flight
    responses, so they stop costing; the batch still wants those rows, and the stop said to run the same
    command to resume. That run used to leave them `cancelled` for good (a nightly job's output kept
    them, exit 1, until someone ran `rowrelay retry`): it now sends them again, each create counted on
    its row. A cancel asked for (`rowrelay cancel`) still ends its rows (tests/flows/test_cancelling.py)."""
    rows = 10
    clock = ManualClock()  # the jobs run only when the test moves it: in flight when the run stops
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:

        def all_running() -> bool:
            return sum(r["status"] in ("queued", "in_progress") for r in emu.emulator.listing()) >= rows

        await cancel_midway(emu, tmp_path / "batch", rows, all_running, mode=mode)
        frame = load(tmp_path / "batch")
        assert (set(frame["status"]), set(frame["error_type"])) == ({"cancelled"}, {"interrupted"})
        table = new_table(tmp_path / "batch", 0)
        session = open_session(settings_for(emu, mode=mode), table, prompts(rows))
        async with running(session, table) as run:
            await eventually(reading(lambda: len(emu.emulator.listing())), lambda n: n == 2 * rows)
            clock.advance(31)
            report = await asyncio.wait_for(run, timeout=120)
        jobs = creates_per_row(emu)
    assert report.counts == {"completed": rows}
    frame = load(tmp_path / "batch")
    assert dict(zip(frame["row_key"], frame["attempts"], strict=True)) == dict(jobs)
    assert set(jobs.values()) == {2}


async def test_a_run_stopped_again_while_it_cancels_stops_cancelling_and_says_what_it_left_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Thousands in flight take a while to cancel, 32 at a time, and a person may press Ctrl-C again
    meanwhile. The run then ended where the second stop hit: in the CLI it said `nothing was in flight`
    while hundreds of responses ran on, paid for. Now it says it is cancelling; stopped again, the
    cancelling stops too, says what it cancelled and how many it left, and those rows keep their
    response ids (the next run waits on them). No row changes once the run has let go of the table."""
    rows = 200
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:30"), cancel_delay=0.5)
    with running_emulator(config, clock=ManualClock()) as emu:  # the jobs never end by themselves

        def on_server(status: str) -> int:
            return sum(r["status"] == status for r in emu.emulator.listing())

        table = new_table(tmp_path / "batch", rows)
        session = open_session(settings_for(emu, max_in_flight=rows, poll_streams=0), table, prompts(rows))
        with caplog.at_level(logging.WARNING, logger="rowrelay.runner"):
            async with running(session, table) as run:
                await eventually(reading(lambda: on_server("queued")), lambda n: n == rows)
                run.cancel()
                # What the run recorded, not what the server did: a cancel the server made may still be
                # on its way back when the run is stopped again, and then is not heard (asserted below).
                await eventually(reading(lambda: table.counts()["cancelled"]), lambda n: n >= 32)
                run.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await run
            frame = load(tmp_path / "batch")
            server_cancelled = on_server("cancelled")
    cancelled = int((frame["status"] == "cancelled").sum())
    assert 32 <= cancelled < rows
    assert set(frame.loc[frame["status"] == "cancelled", "error_type"]) == {"interrupted"}
    holding = frame.loc[frame["status"] != "cancelled"]
    assert set(holding["status"]) == {"queued"}
    assert holding["response_id"].notna().all()
    # A cancel that reached its response as the run let go may not have been heard: never fewer.
    assert cancelled <= server_cancelled <= cancelled + CANCEL_CONCURRENCY
    said = [r.getMessage() for r in caplog.records if r.name == "rowrelay.runner"]
    assert said == [
        "run cancelled: cancelling 200 in-flight responses on the server; stopping again leaves the rest "
        "running",
        f"run cancelled: {cancelled} in-flight responses were cancelled; the cancelling was stopped with "
        f"{rows - cancelled} rows left: their responses may still run, and be paid for; the next run waits "
        "on them",
    ]


async def test_a_stopped_run_says_the_responses_that_ended_before_their_cancel_reached_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Responses that end while their run stops answer the cancel with how they ended. Those used to go
    unsaid, so after `cancelling 149 in-flight responses` the closing line read `nothing was in flight`.
    They are kept as they ended, and said so."""
    rows = 40
    clock = ManualClock()  # the jobs end when the test moves it
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        table = new_table(tmp_path / "batch", rows)
        session = open_session(settings_for(emu, max_in_flight=rows, poll_streams=0), table, prompts(rows))
        background = session.runner.driver.context.background
        assert background is not None

        async def never_looks(response_id: str) -> Snapshot:  # the run has not looked again yet
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        background.retrieve = never_looks  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="rowrelay.runner"):
            async with running(session, table) as run:
                queued = reading(lambda: sum(r["status"] == "queued" for r in emu.emulator.listing()))
                await eventually(queued, lambda n: n == rows)
                clock.advance(31)
                ended = reading(lambda: sum(r["status"] == "completed" for r in emu.emulator.listing()))
                await eventually(ended, lambda n: n == rows)
                run.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await run
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) == {"completed"}
    # recorded as a poll would: the answer's tokens and cost on its row
    assert frame["output_tokens"].gt(0).all()
    assert frame["cost_usd"].gt(0).all()
    said = [r.getMessage() for r in caplog.records if r.name == "rowrelay.runner"]
    assert said == [
        "run cancelled: cancelling 40 in-flight responses on the server; stopping again leaves the rest "
        "running",
        "run cancelled: 40 in-flight responses had ended before the cancel reached them (kept as they ended)",
    ]


async def test_a_signal_raised_inside_a_rows_poll_stops_the_run_and_cancels_its_work(tmp_path: Path) -> None:
    """Prefect turns SIGTERM into `TerminationSignal`, raised wherever the main thread is when it lands;
    that may be inside a row's poll (a socket write, a JSON parse) rather than the event loop. The run
    stops as it does when cancelled: every response in flight is cancelled on the server, and the
    signal goes on up."""
    rows = 10
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30"))) as emu:
        table = new_table(tmp_path / "batch", rows)
        # Every row polled (none followed on its create's stream), so the signal lands in a poll.
        session = open_session(settings_for(emu, poll_streams=0), table, prompts(rows))
        background = session.runner.driver.context.background
        assert background is not None
        retrieve = background.retrieve

        async def landed_here(response_id: str) -> Snapshot:
            if sum(r["status"] in ("queued", "in_progress") for r in emu.emulator.listing()) < rows:
                return await retrieve(response_id)
            raise TerminationSignal(signal=signal.SIGTERM)

        background.retrieve = landed_here  # type: ignore[method-assign]
        try:
            with pytest.raises(TerminationSignal):
                await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        assert {r["status"] for r in emu.emulator.listing()} == {"cancelled"}
    assert set(load(tmp_path / "batch")["status"]) == {"cancelled"}


async def _cancel_once_every_create_is_on_the_wire(emu: RunningEmulator, directory: Path, mode: str) -> None:
    """Cancel a run once the server has started every row's job but answered none of the creates. Its
    rows are as many as a run's first creates on the wire at once before one is answered (`ALIKE`,
    `run.first_creates`); more would wait for an answer this test never lets come first."""

    def all_started_none_answered() -> bool:
        jobs = emu.emulator.jobs_listing()
        if len(jobs) < ALIKE:
            return False
        assert not any(job["answered"] for job in jobs)
        return True

    await cancel_midway(emu, directory, ALIKE, all_started_none_answered, mode=mode, request_timeout=60)


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_run_stopped_mid_create_hears_the_answers_and_cancels_those_jobs_too(
    tmp_path: Path, mode: str
) -> None:
    """Ctrl-C while creates are on the wire: they answer within moments, so the run waits for them,
    and those jobs are cancelled on the server like the rest instead of left running as possible
    duplicates."""
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:30"), create_delay=0.5)
    with running_emulator(config) as emu:
        await _cancel_once_every_create_is_on_the_wire(emu, tmp_path / "batch", mode)
        jobs = emu.emulator.jobs_listing()
    assert {job["status"] for job in jobs} == {"cancelled"}
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) == {"cancelled"}
    assert (frame["attempts"] == 1).all()
    assert (frame["orphans"] == 0).all()


async def test_a_create_that_does_not_answer_a_stopping_run_is_counted_as_maybe_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submit, "STOP_GRACE", 0.2)  # the create never answers: any grace ends the same
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:30"), hang_rate=1.0)
    with running_emulator(config) as emu:
        await _cancel_once_every_create_is_on_the_wire(emu, tmp_path / "batch", "poll")
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) == {"orphaned"}
    assert (frame["attempts"] == 1).all()
    assert (frame["orphans"] == 1).all()
    assert set(frame["error_type"]) == {"maybe_created"}


async def test_a_second_run_resumes_tokens_and_never_resends_completed_rows(
    slow_emulator: RunningEmulator, tmp_path: Path
) -> None:
    await run_batch(slow_emulator, tmp_path / "batch")
    before = creates_per_row(slow_emulator)
    table = StateTable.open(tmp_path / "batch")
    session = open_session(settings_for(slow_emulator), table, prompts())
    report = await session.runner.run()
    await session.aclose()
    table.close()
    assert report.counts == {"completed": ROWS}
    assert report.counters.creates == 0
    assert creates_per_row(slow_emulator) == before


async def test_rows_holding_tokens_are_resumed_without_a_new_create(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    client = openai.AsyncOpenAI(base_url=emulator.url, api_key="x")
    table = new_table(tmp_path / "batch", rows=3)
    for key in ("row-0000", "row-0001", "row-0002"):
        created = await client.responses.create(
            model="gpt-4.1-mini",
            input="adopted",
            background=True,
            extra_headers={"x-emulator-latency": "0.3"},
        )
        table.transition(key, "submitting")
        table.transition(key, "queued", response_id=created.id, attempts=1)
    table.flush()
    await client.close()
    session = open_session(settings_for(emulator), table, prompts(3))
    report = await session.runner.run()
    await session.aclose()
    table.close()
    assert report.counts == {"completed": 3}
    assert report.counters.creates == 0


async def test_chat_completions_backend_completes_rows_with_no_token(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    report = await run_batch(emulator, tmp_path / "batch", rows=10, backend="chat", api_key="unused")
    assert report.counts == {"completed": 10}
    frame = load(tmp_path / "batch")
    assert frame["response_id"].isna().all()
    assert (frame["output_text"].str.len() > 0).all()
    assert emulator.emulator.stats()["routes"] == {"POST /v1/chat/completions": 10}


async def test_a_chat_completions_rows_latency_is_from_its_send_to_its_answer(tmp_path: Path) -> None:
    """`submitted_at` was set when the answer came, with it: every row's latency read 0."""
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"))) as emu:
        await run_batch(emu, tmp_path / "batch", rows=3, backend="chat", api_key="unused")
    frame = load(tmp_path / "batch")
    waited = (frame["completed_at"] - frame["submitted_at"]).dt.total_seconds()
    assert (waited >= 0.3).all(), waited.tolist()  # at least the emulator's work time: a floor, not a window
    assert summary(tmp_path / "batch")["latency_p50"] >= 0.3


async def test_a_chat_create_that_times_out_is_counted_and_never_retried_by_the_sdk(tmp_path: Path) -> None:
    """Chat Completions has no token: a create that timed out may still be paid for. Each one spends an
    attempt and counts an orphan on its row, and the SDK sends it only once (no transport retries):
    the creates the server saw are exactly the attempts the rows counted. The run sends none again: a
    chat create cut by its timeout holds its row (tests/run/test_chat_timeout.py)."""
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:3"))) as emu:
        report = await run_batch(
            emu, tmp_path / "batch", rows=4, backend="chat", api_key="unused", chat_timeout=0.3,
            max_attempts=2, transport_retries=2,
        )  # fmt: skip
        seen = emu.emulator.stats()["routes"]["POST /v1/chat/completions"]
    frame = load(tmp_path / "batch")
    assert report.counts == {"orphaned": 4}
    assert frame["attempts"].tolist() == [1, 1, 1, 1]
    assert frame["orphans"].tolist() == [1, 1, 1, 1]
    assert seen == frame["attempts"].sum() == report.counters.maybe_created


async def test_bad_credentials_stop_the_run_with_a_clear_error(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(api_key="right")) as emu:
        with pytest.raises(BackendRefusedError, match="credentials"):
            await run_batch(emu, tmp_path / "batch", rows=3, api_key="wrong")
        assert emu.emulator.listing() == []
    # The refused row went back to pending, and so did rows stopped before their create left; a row whose
    # create was on the wire when the run stopped may have started a job, so it is counted as such. No
    # row is left `submitting` for the next run to guess about.
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) <= {"pending", "orphaned"}
    assert "pending" in set(frame["status"])
    cut_short = frame[frame["status"] == "orphaned"]
    assert (cut_short["attempts"] == 1).all()
    assert (cut_short["orphans"] == 1).all()
    assert (frame.loc[frame["status"] == "pending", "attempts"] == 0).all()


@pytest.mark.parametrize(("backend", "mode"), [("openai", "poll"), ("openai", "stream"), ("chat", "poll")])
@pytest.mark.parametrize("reply", [proxy_page(200), error(200)], ids=["web-page", "json-naming-no-response"])
async def test_a_base_url_that_is_not_the_api_stops_the_run_and_counts_every_create(
    tmp_path: Path, backend: str, mode: str, reply: Reply
) -> None:
    """A base URL where something else answers with a success: a web server's page (a path missing its
    /v1, a proxy's sign-in page), or JSON that names no response. The page's creates were each read as a
    stream that ended early, or a body with no response in it, and sent again up to the attempt budget,
    three to a row; the JSON left rows `in_progress` with no token, and the run ended as if they had;
    through Chat Completions each row failed as a crash of ours, its create uncounted.
    Now the run stops at the first such answer (`NotTheApiError`), and every create the server got is
    counted on its row, in case what answered passed it on."""
    heads: list[bytes] = []
    async with serving(reply, heads) as url:
        table = new_table(tmp_path / "batch", 20)
        session = open_session(
            settings_for(Address(url), backend=backend, api_key="sk-test", mode=mode), table, prompts(20)
        )
        async with running(session, table, NotTheApiError) as run:
            with pytest.raises(NotTheApiError, match="which is not the API's answer"):
                await run
    frame = load(tmp_path / "batch")
    assert int(frame["attempts"].sum()) == len(heads) > 0  # each create the server got, counted
    assert (frame["orphans"] == frame["attempts"]).all()  # as maybe sent
    assert frame["attempts"].max() == 1  # none sent again
    assert set(frame["status"]) <= {"pending", "orphaned"}


@pytest.fixture
def nothing_frozen() -> Iterator[None]:
    """A heap nothing froze (the suite's freeze set aside, and given back after); a caller's frozen heap:
    test_frozen_heap.py."""
    with suite_freeze_set_aside():
        yield


def test_runs_that_overlap_hand_the_collector_back_when_the_last_one_ends(nothing_frozen: None) -> None:
    """Two runs in one process, the first to start ending first (shards or endpoints at once): the heap
    stays frozen and the thresholds raised until the second ends, then both are as before the first."""
    import gc

    before = gc.get_threshold()
    first, second = heap_frozen(), heap_frozen()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] >= 50_000
    second.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


async def test_the_heap_is_frozen_only_while_rows_run(
    slow_emulator: RunningEmulator, tmp_path: Path, nothing_frozen: None
) -> None:
    """The runner keeps the garbage collector off the pre-run heap while rows run (`heap_frozen`) and
    collects the young generations less often, and hands both back as they were at the end."""
    import gc

    before = gc.get_threshold()
    seen: list[tuple[int, tuple[int, int, int]]] = []
    table = new_table(tmp_path / "batch", 20)
    session = open_session(settings_for(slow_emulator), table, prompts(20))
    session.runner.progress = lambda _: seen.append((gc.get_freeze_count(), gc.get_threshold()))
    session.runner.progress_interval = 0.0
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    assert report.counts == {"completed": 20}
    frozen, thresholds = max(seen)
    assert frozen > 0
    assert thresholds[0] >= 50_000 > before[0]
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


async def test_a_streamed_row_reaches_the_table_when_its_stream_pauses_not_at_each_event(
    tmp_path: Path,
) -> None:
    """A stream's opening events and a fast server's whole stream come in one read; recording each event
    that the next one, already read, supersedes cost a table change per event. The row is recorded when
    its stream pauses: while the response runs it is durable as in progress with the cursor of the last
    event read (where a resume after a crash starts), and its end with the terminal event's number."""
    rows, clock = 5, ManualClock()
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        table = StateTable.open(tmp_path / "batch", batch_id="test-batch")
        table.add_pending((f"row-{i:04d}", i, f"hash-{i}") for i in range(rows))
        session = open_session(settings_for(emu, mode="stream"), table, prompts(rows))

        def durable(status: str, cursor: int) -> Callable[[pd.DataFrame], bool]:
            return lambda frame: bool(
                ((frame["status"] == status) & (frame["sequence_number"] == cursor)).all()
            )

        async with running(session, table) as run:
            # created 0 and queued 1; then, half a second in, in_progress 2, the message 3 and its part 4
            await eventually(reading(lambda: load(tmp_path / "batch")), durable("queued", 1))
            clock.advance(1)
            await eventually(reading(lambda: load(tmp_path / "batch")), durable("in_progress", 4))
            clock.advance(30)
            report = await run
        client = openai.AsyncOpenAI(base_url=emu.url, api_key="x")
        last_events = {}
        for response in emu.emulator.listing():
            events = [event async for event in await client.responses.retrieve(response["id"], stream=True)]
            last_events[response["id"]] = events[-1].sequence_number
        await client.close()
    assert report.counts == {"completed": rows}
    ended = load(tmp_path / "batch")
    assert dict(zip(ended["response_id"], ended["sequence_number"], strict=True)) == last_events
    assert set(creates_per_row(emu).values()) == {1}
    assert dict(zip(ended["row_key"], ended["attempts"], strict=True)) == dict(creates_per_row(emu))
