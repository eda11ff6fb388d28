"""An exception the agent's own code raises in a row's create: its words masked of the key, and the row
counted as maybe sent only if a request may have left.

A middleware raising before the agent called its model (nothing sent) made its row `orphaned` as a
create "on its way" (an attempt and an orphan, "possible duplicate jobs" said on every later run), and
its words, the key it quoted among them, went unmasked into the state table and the logs. One raising
after the create left is still counted: its job exists, paid for.
"""

from __future__ import annotations

import errno
import logging
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from agent_framework import Agent, AgentContext, agent_middleware
from agent_framework.openai import OpenAIChatClient

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.llm.masking import MASK
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import new_table, prompts, settings_for

SECRET = "sk-test-LEAKCHECK123456789abcdef"
FRAGMENT = SECRET[3:15]
ROWS = 4
BROKEN = "row-0001"
"""The row whose create the middleware breaks: its prompt is `prompts()`'s "... number 1."."""


def _is_broken_row(context: AgentContext) -> bool:
    return any("number 1." in (message.text or "") for message in context.messages)


@agent_middleware
async def _raises_before_sending(context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
    if _is_broken_row(context):
        raise RuntimeError(f"middleware could not load its prompt with secret {SECRET}")
    await call_next()


@agent_middleware
async def _raises_after_sending(context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
    await call_next()
    if _is_broken_row(context):
        raise RuntimeError(f"middleware could not store the answer with secret {SECRET}")


def _os_error(kind: type[OSError]) -> OSError:
    """An OSError of `kind` quoting the key in each part it prints from (not its `args`): its
    `strerror`, `filename`, `filename2`, and a note."""
    error = kind(errno.EACCES, f"denied for key {SECRET}", f"/keys/{SECRET}", None, f"/copy/{SECRET}")
    error.add_note(f"while reading {SECRET}")
    return error


@agent_middleware
async def _permission_denied(context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
    if _is_broken_row(context):
        raise _os_error(PermissionError)
    await call_next()


@agent_middleware
async def _connection_failed(context: AgentContext, call_next: Callable[[], Awaitable[None]]) -> None:
    if _is_broken_row(context):
        raise _os_error(ConnectionError)
    await call_next()


def _before(client: OpenAIChatClient) -> Agent[Any]:
    return Agent(client=client, name="before", middleware=[_raises_before_sending])


def _after(client: OpenAIChatClient) -> Agent[Any]:
    return Agent(client=client, name="after", middleware=[_raises_after_sending])


async def _run(
    tmp_path: Path, factory: Callable[[OpenAIChatClient], Agent[Any]], poll_streams: int
) -> tuple[Any, Any]:
    """The batch run by `factory`'s agent on an emulator that takes only SECRET, its creates followed on
    their streams (`poll_streams` > 0) or not; the broken row and the emulator's jobs per row, each row's
    checked against what it counted."""
    with running_emulator(EmulatorConfig(api_key=SECRET)) as emu:
        table = new_table(tmp_path / "state", ROWS)
        settings = settings_for(emu, api_key=SECRET, poll_streams=poll_streams)
        session = open_session(settings, table, prompts(ROWS), agent=factory)
        try:
            report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        jobs, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "state")
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    assert report.counts.get("completed") == ROWS - 1
    return frame.set_index("row_key").loc[BROKEN], jobs


@pytest.mark.parametrize("poll_streams", [0, 10], ids=["create", "create_stream"])
async def test_a_middleware_raising_before_any_request_fails_its_row_alone_masked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, poll_streams: int
) -> None:
    with caplog.at_level(logging.DEBUG):
        row, jobs = await _run(tmp_path, _before, poll_streams)
    assert jobs[BROKEN] == 0  # the server got nothing for it
    assert (row["status"], row["error_type"], row["orphans"]) == ("failed", "internal", 0)
    assert row["error_message"] == f"RuntimeError: middleware could not load its prompt with secret {MASK}"
    assert "row row-0001 crashed" in caplog.text  # logged with its traceback, for its author
    assert FRAGMENT not in caplog.text


async def test_a_middleware_raising_after_its_create_left_is_counted_as_maybe_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its create answered first (not streamed: a streamed run's middleware returns before the stream
    is read, and so raises before anything leaves)."""
    with caplog.at_level(logging.DEBUG):
        row, jobs = await _run(tmp_path, _after, poll_streams=0)
    assert jobs[BROKEN] == 1  # the job exists, paid for: counted on its row
    assert row["orphans"] == 1
    assert FRAGMENT not in row["error_message"]
    assert MASK in row["error_message"]
    assert FRAGMENT not in caplog.text


@pytest.mark.parametrize(
    "middleware", [_permission_denied, _connection_failed], ids=["permission", "connection"]
)
async def test_an_os_error_the_agent_raises_is_masked_where_its_traceback_prints_from(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, middleware: Any
) -> None:
    """An OSError prints from its `strerror` and file names, not its `args`, and its notes print after
    it: masking only `args` left the key in the runner's "row ... crashed" traceback (Prefect's logs)."""

    def factory(client: OpenAIChatClient) -> Agent[Any]:
        return Agent(client=client, name="os-error", middleware=[middleware])

    with caplog.at_level(logging.DEBUG):
        row, jobs = await _run(tmp_path, factory, poll_streams=0)
    assert jobs[BROKEN] == 0
    assert (row["status"], row["error_type"], row["orphans"]) == ("failed", "internal", 0)
    assert FRAGMENT not in row["error_message"]
    crashed = [record for record in caplog.records if record.exc_info and "crashed" in record.getMessage()]
    assert crashed, "the row's crash is logged with its traceback"
    for record in caplog.records:
        if record.exc_info:
            printed = "".join(traceback.format_exception(*record.exc_info))
            assert FRAGMENT not in printed
            assert MASK in printed or "crashed" not in record.getMessage()
    assert FRAGMENT not in caplog.text
