"""A chat batch resumed against another server (another base URL) says so at its start: its rows hold
no response id to tie them to a server, so the run goes ahead there, and it finished in silence, its
answers beside the first server's. Two emulators as two Chat Completions servers, a real Prefect API."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from tests.support.prefect_records import logs_of
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

MOVED = "this batch's earlier run used "


async def _run(tmp_path: Path, emu: RunningEmulator, rows: int) -> tuple[Any, list[str]]:
    """A chat run of the batch over the first `rows` tickets on `emu`: its result and its warnings."""
    from prefect.logging.handlers import APILogHandler

    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", rows)
    state = await run_batch(str(source), **flow_args(tmp_path, emu, backend="chat"), return_state=True)
    result = await state.aresult()
    await APILogHandler.aflush()  # the records go to the server in batches, from a worker thread
    logs = await logs_of(state.state_details.flow_run_id)
    return result, [log.message for log in logs if log.level >= logging.WARNING]


def _chat_jobs(emu: RunningEmulator) -> int:
    listing = httpx.get(emu.url.removesuffix("/v1") + "/emulator/jobs", timeout=30).json()["data"]
    return Counter(job["kind"] for job in listing)["chat.completion"]


async def test_a_chat_batch_resumed_on_another_server_says_which_each_run_used(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "unused")  # a vLLM server checks none
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))
    with running_emulator(config) as first, running_emulator(config) as second:
        began, said = await _run(tmp_path, first, 3)
        assert not [m for m in said if m.startswith(MOVED)], said

        moved, said = await _run(tmp_path, second, 5)  # two rows more, on another server
        assert [m for m in said if m.startswith(MOVED)] == [
            f"this batch's earlier run used chat at {first.url}; this run uses chat at {second.url}: the "
            "rows it sends are answered there, beside the earlier server's answers, and the output does not "
            "tell them apart (a row holding no response id, as every backend='chat' row, is tied to no "
            "server). To keep one server's answers, run it on the earlier one, or give it a state of its "
            "own (state)"
        ], said
        assert (_chat_jobs(first), _chat_jobs(second)) == (3, 2)
        assert json.loads((tmp_path / "state" / "run.json").read_text())["base_url"] == second.url

        _, said = await _run(tmp_path, second, 5)  # the same server again: nothing to say
        assert not [m for m in said if m.startswith(MOVED)], said
        _, said = await _run(tmp_path, first, 5)  # nothing left to send: the run keeps `second` on record
        assert not [m for m in said if m.startswith(MOVED)], said
    assert began.all_completed
    assert moved.all_completed


async def test_a_batch_no_server_answered_says_nothing_of_earlier_answers_on_another(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first run refused (a wrong key: no row answered), its resume on another server said its rows
    were 'answered there, beside the earlier server's answers', of answers that did not exist."""
    from prefect.logging.handlers import APILogHandler

    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))
    with running_emulator(EmulatorConfig(api_key="sk-right")) as first, running_emulator(config) as second:
        source = write_tickets(tmp_path / "tickets.csv", 3)
        state = await run_batch(str(source), **flow_args(tmp_path, first, backend="chat"), return_state=True)
        assert state.is_failed(), state  # the key refused: nothing answered
        await APILogHandler.aflush()
        assert _chat_jobs(first) == 0

        resumed, said = await _run(tmp_path, second, 3)
        assert not [m for m in said if m.startswith(MOVED)], said
    assert resumed.all_completed
