"""Chat Completions answers a create only once the whole answer is written, so the wait for its answer is
the model's whole generation. It waited the request timeout (60 s, meant for background calls, which
answer at once): a trial's 6 s answers behind a 3 s timeout were each cut, counted as maybe sent and sent
again, three paid jobs a row and no answer kept. A chat create now waits `chat_timeout` (600 s); one it
cuts is counted on its row and held for `rowrelay retry`, and the run says why once, naming the setting.

Against the emulator over a socket, through the SDK; the server's jobs per row are the rows' attempts.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import httpx
import openai
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm import make_backend
from rowrelay.tasks.run import RunReport
from rowrelay.tasks.state import StateTable, load
from rowrelay.tasks.state.retrying import retry
from tests.support.runs import new_table, prompts, run_table, settings_for

ROWS = 4
CUT = "a chat create's answer took longer than the chat timeout (ROWRELAY_CHAT_TIMEOUT, 0.3 s) and was cut"
LOST = "a create's answer was lost"


def _jobs(emu: RunningEmulator) -> Counter[str]:
    """Chat jobs the emulator started per row, told by their prompt (a chat completion has no metadata)."""
    row_of = {prompt: key for key, prompt in prompts(ROWS).items()}
    listing = httpx.get(emu.url.removesuffix("/v1") + "/emulator/jobs", timeout=30).json()["data"]
    return Counter(row_of[job["prompt"]] for job in listing if job["kind"] == "chat.completion")


def _attempts(directory: Path) -> Counter[str]:
    frame = load(directory)
    return Counter(dict(zip(frame["row_key"], frame["attempts"].astype(int), strict=True)))


async def _run(
    emu: RunningEmulator, directory: Path, *, again: bool = False, **overrides: object
) -> RunReport:
    table = StateTable.open(directory, batch_id="test-batch") if again else new_table(directory, ROWS)
    settings = settings_for(emu, backend="chat", api_key="unused", **overrides)
    return await run_table(table, settings, prompts(ROWS))


async def test_an_answer_slower_than_the_request_timeout_completes_on_its_first_create(
    tmp_path: Path,
) -> None:
    """The trial's case: answers take longer than the request timeout, well within the chat timeout."""
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:1.5"))) as emu:
        report = await _run(emu, tmp_path / "batch", request_timeout=0.3)
        jobs = _jobs(emu)
    frame = load(tmp_path / "batch")
    assert report.counts == {"completed": ROWS}, frame[["status", "attempts", "error_message"]]
    assert jobs == _attempts(tmp_path / "batch") == Counter(dict.fromkeys(prompts(ROWS), 1))
    assert (frame["orphans"] == 0).all()


async def test_an_answer_cut_by_the_chat_timeout_is_counted_once_and_held_for_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each row's create is cut once, counted on its row (an attempt, an orphan) and not sent again, by
    this run or the next; the run says why once. `rowrelay retry` and a longer timeout then finish it."""
    batch = tmp_path / "batch"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:2"))) as emu:
        with caplog.at_level(logging.WARNING, logger="rowrelay"):
            report = await _run(emu, batch, chat_timeout=0.3, max_attempts=3)
        cut = _jobs(emu)
        frame = load(batch)
        assert report.counts == {"orphaned": ROWS}, frame[["status", "attempts", "note"]]
        assert cut == _attempts(batch) == Counter(dict.fromkeys(prompts(ROWS), 1))  # one paid job a row
        assert frame["orphans"].tolist() == [1] * ROWS
        assert report.counters.maybe_created == ROWS
        assert set(frame["error_code"]) == {"answer_timeout"}
        assert frame["error_message"].str.startswith("no answer within the chat timeout").all()
        assert frame["note"].str.endswith("held for `rowrelay retry`").all(), frame["note"].tolist()
        said = [r.getMessage() for r in caplog.records]
        assert sum(m.startswith(CUT) for m in said) == 1, said
        assert "Raise ROWRELAY_CHAT_TIMEOUT above the longest answer" in next(
            m for m in said if m.startswith(CUT)
        )
        assert not [m for m in said if m.startswith(LOST)], "said once, in its own words"

        again = await _run(emu, batch, again=True, chat_timeout=0.3, max_attempts=3)  # the same command: held
        assert again.counters.creates == 0
        assert _jobs(emu) == cut

        assert retry(batch) == ROWS
        done = await _run(emu, batch, again=True, chat_timeout=30, max_attempts=3)
        jobs = _jobs(emu)
    assert done.counts == {"completed": ROWS}
    assert jobs == _attempts(batch) == Counter(dict.fromkeys(prompts(ROWS), 2))
    assert load(batch)["orphans"].tolist() == [1] * ROWS


async def test_a_chat_create_waits_the_chat_timeout_for_its_answer_a_background_one_the_request_timeout(
    emulator: RunningEmulator,
) -> None:
    chat = make_backend(settings_for(emulator, backend="chat", api_key="unused", request_timeout=45.0))
    responses = make_backend(settings_for(emulator, backend="openai", api_key="unused", request_timeout=45.0))
    try:
        waits = chat._client.timeout  # type: ignore[attr-defined]
        assert isinstance(waits, openai.Timeout)
        assert (waits.read, waits.write, waits.pool, waits.connect) == (600.0, 45.0, 45.0, 5.0)
        waits = responses._creates.timeout  # type: ignore[attr-defined]
        assert isinstance(waits, openai.Timeout)
        assert (waits.read, waits.connect) == (45.0, 5.0)
    finally:
        await chat.aclose()
        await responses.aclose()
