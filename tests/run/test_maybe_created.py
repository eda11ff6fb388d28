"""Never pay twice silently: each fault a real network makes on a create, on each backend and wait mode.

The emulator starts the job and then fails only the answer (a gateway's 5xx page, no answer at all, a
stream cut or ended before any event). For every row, the jobs the server holds must be at most the
attempts the row spent, and every job beyond the first, and every job whose create went unanswered, a
counted possible duplicate (`orphans`) of that row. Each case also checks the fault really happened,
so it cannot pass by testing nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from rowrelay.flows.detached import free_port
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.run import RunCounters, RunReport, open_session
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.emulator_process import emulator_process
from tests.support.inspection import eventually, reading

if TYPE_CHECKING:
    from rowrelay.tasks.llm.agent_backend import AgentSource
from tests.support.runs import Address, new_table, prompts, settings_for

ROWS = 24
RATE = 0.3  # of creates faulted; with 8 attempts a row runs out with probability 0.3**8
TIMEOUT = 0.5  # the client's, for creates that never answer

# (case, emulator options, how rowrelay runs: backend/agent and mode). `responses` creates, polls and
# streams over the lean transport (tasks/llm/wire.py), `responses-sdk` over the SDK's own.
RESPONSES = [
    ("responses", "poll"), ("responses-sdk", "poll"), ("responses", "stream"), ("responses-sdk", "stream"),
    ("agent", "poll"), ("agent", "stream"),
]  # fmt: skip
STREAMS = [("responses", "stream"), ("responses-sdk", "stream"), ("agent", "stream")]
CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("gateway-5xx", {"gateway_error_rate": RATE}, [*RESPONSES, ("chat", "poll")]),
    ("no-answer", {"hang_rate": RATE}, [*RESPONSES, ("chat", "poll")]),
    ("stream-cut-before-events", {"stream_cut_rate": RATE}, STREAMS),
    ("stream-ends-with-no-event", {"empty_stream_rate": RATE}, STREAMS),
]
MATRIX = [
    pytest.param(options, runner, mode, id=f"{case}-{runner}-{mode}")
    for case, options, runs in CASES
    for runner, mode in runs
]


def _runner(runner: str) -> tuple[dict[str, Any], AgentSource | None]:
    """The settings and agent of a case's runner."""
    if runner == "chat":
        return {"backend": "chat", "api_key": "unused"}, None
    if runner == "responses-sdk":
        return {"transport": "sdk"}, None
    if runner == "agent":
        from tests.llm.agent_factories import make_agent  # Agent Framework only where it is tested

        return {}, make_agent
    return {}, None


async def _run(emu: RunningEmulator, directory: Path, runner: str, mode: str) -> RunReport:
    overrides, agent = _runner(runner)
    overrides |= {"mode": mode, "max_attempts": 8, "request_timeout": TIMEOUT, "chat_timeout": TIMEOUT}
    table = new_table(directory, ROWS)
    session = open_session(settings_for(emu, **overrides), table, prompts(ROWS), agent=agent)
    try:
        return await session.runner.run()
    finally:
        await session.aclose()
        table.close()


def _jobs_by_row(emu: RunningEmulator) -> tuple[Counter[str], Counter[str]]:
    return _count_jobs(emu.emulator.jobs_listing())


def _timed_out_at_a_gateway(emu: RunningEmulator) -> set[str]:
    """The rows a create of which a gateway answered 504, its own timeout (`llm.chat_timeouts`)."""
    row_of_prompt = {prompt: key for key, prompt in prompts(ROWS).items()}
    return {
        row_of_prompt[job["prompt"]] for job in emu.emulator.jobs_listing() if job["fault"] == "gateway=504"
    }


def _count_jobs(listing: list[dict[str, Any]]) -> tuple[Counter[str], Counter[str]]:
    """Jobs the server started per row, and those whose create was never answered with their id."""
    row_of_prompt = {prompt: key for key, prompt in prompts(ROWS).items()}
    jobs, unanswered = Counter[str](), Counter[str]()
    for job in listing:
        key = job["metadata"].get("rowrelay_row") or row_of_prompt[job["prompt"]]
        jobs[key] += 1
        unanswered[key] += not job["answered"]
    return jobs, unanswered


@pytest.mark.parametrize(("options", "runner", "mode"), MATRIX)
async def test_every_job_beyond_the_first_is_a_counted_maybe_created_create(
    tmp_path: Path, options: dict[str, Any], runner: str, mode: str
) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.3"), seed=7, **options)
    with running_emulator(config) as emu:
        report = await _run(emu, tmp_path / "batch", runner, mode)
        jobs, unanswered = _jobs_by_row(emu)
        timed_out = _timed_out_at_a_gateway(emu)
    frame = load(tmp_path / "batch").set_index("row_key")
    assert sum(unanswered.values()) > 0, "no create was faulted: the case tested nothing"
    if runner == "chat" and "hang_rate" in options:
        # A chat create cut by its timeout holds its row for `rowrelay retry` (test_chat_timeout.py):
        # exactly the rows a create of which never answered, each sent once.
        held = {key for key, count in unanswered.items() if count}
        assert set(frame.index[frame["status"] == "orphaned"]) == held
        assert report.counts == {"completed": ROWS - len(held), "orphaned": len(held)}
        assert (frame["attempts"] == 1).all()
    elif runner == "chat" and "gateway_error_rate" in options:
        # A gateway's 504 to a chat create is its timeout, held as the chat timeout's cut is
        # (test_chat_gateway_timeout.py); a 502 or 503 is sent again.
        assert timed_out, "no create met a 504: the case tested nothing"
        assert set(frame.index[frame["status"] == "orphaned"]) == timed_out
        assert report.counts == {"completed": ROWS - len(timed_out), "orphaned": len(timed_out)}
        assert (frame.loc[list(timed_out), "error_code"] == "answer_timeout").all()
    else:
        assert report.counts == {"completed": ROWS}, frame[["status", "attempts", "note"]]
    assert report.counters.maybe_created == frame["orphans"].sum() >= sum(unanswered.values())
    assert_every_job_is_paid_for(frame.reset_index(), jobs, unanswered)


@pytest.mark.parametrize("runner", ["responses", "responses-sdk", "agent"])
async def test_a_stream_that_skips_response_created_still_names_its_job(tmp_path: Path, runner: str) -> None:
    # The id comes with the next lifecycle event (`response.queued`): nothing is maybe created or resent.
    config = EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.3"), seed=7, skip_created_rate=1.0)
    with running_emulator(config) as emu:
        report = await _run(emu, tmp_path / "batch", runner, "stream")
        jobs, unanswered = _jobs_by_row(emu)
    frame = load(tmp_path / "batch")
    assert report.counts == {"completed": ROWS}
    assert set(jobs.values()) == {1}
    assert sum(unanswered.values()) == 0
    assert (frame["attempts"] == 1).all()
    assert (frame["orphans"] == 0).all()
    assert report.counters.maybe_created == 0


async def test_a_row_whose_creates_all_go_unanswered_stops_at_its_attempts(tmp_path: Path) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), gateway_error_rate=1.0)
    with running_emulator(config) as emu:
        table = new_table(tmp_path / "batch", 3)
        session = open_session(settings_for(emu, max_attempts=2), table, prompts(3))
        try:
            report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        jobs, _ = _jobs_by_row(emu)
    frame = load(tmp_path / "batch")
    assert report.counts == {"orphaned": 3}
    assert set(jobs.values()) == {2}  # two paid jobs each: both counted, then no more
    assert (frame["attempts"] == 2).all()
    assert (frame["orphans"] == 2).all()
    assert frame["note"].str.contains("gave up after 2 attempts").all()
    assert frame["error_message"].str.contains("502|503|504").all()


@pytest.mark.parametrize(
    ("runner", "mode"),
    [
        ("responses", "poll"),
        ("responses", "stream"),
        ("responses-sdk", "poll"),
        ("chat", "poll"),
        ("agent", "poll"),
    ],
)
async def test_a_server_down_when_rows_are_sent_costs_them_nothing(
    tmp_path: Path, runner: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Creates refused at the connect (nothing listens yet) never left: the rows wait and send again,
    spending no attempt and counting no orphan, however long the server is down. Once it is up, each row
    is one job and one attempt."""
    rows, port = 6, free_port()
    counters = RunCounters()
    table = new_table(tmp_path / "batch", rows)
    url = f"http://127.0.0.1:{port}/v1"
    overrides, agent = _runner(runner)
    settings = settings_for(Address(url), mode=mode, max_attempts=1, **overrides)
    session = open_session(settings, table, prompts(rows), counters=counters, agent=agent)
    try:
        run = asyncio.ensure_future(session.runner.run())
        await eventually(
            reading(lambda: counters.transient_errors), lambda errors: errors >= 2 * rows
        )  # each row refused twice
        assert not run.done()
        assert counters.maybe_created == 0
        with emulator_process("--port", str(port), "--latency", "fixed:0.05") as emu:
            report = await run
            jobs, _ = _count_jobs(emu.get("/emulator/jobs")["data"])
    finally:
        await session.aclose()
        table.close()
    frame = load(tmp_path / "batch")
    assert report.counts == {"completed": rows}
    assert jobs == Counter(frame["row_key"]), "one job a row"
    assert (frame["attempts"] == 1).all()
    assert (frame["orphans"] == 0).all()
    told = [
        r.getMessage() for r in caplog.records if r.name == "rowrelay.submit" and r.levelname == "WARNING"
    ]
    assert len(told) == 1, told  # said at once, and once
    assert told[0].startswith("cannot reach the server (connection problem: Connection error. ("), told
