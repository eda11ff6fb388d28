"""A long-lived emulator's ledger and request counts are bounded by its retention: the embedded emulator
is reused by every run for weeks (a scheduled job every few minutes), and a ledger that kept an entry for
every job, a chat completion's whole request, and a count for every distinct request, for ever grew by
the row, however short its retention."""

from __future__ import annotations

import httpx
import openai

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.emulator.faults import Faults
from rowrelay.tasks.emulator.jobs import LEDGER_RETENTIONS, EndedJob
from rowrelay.tasks.emulator.model import request_digest
from rowrelay.tasks.emulator.service import _SWEEP_EVERY, Emulator
from tests.support.clock import ManualClock

RETENTION = 60.0


async def test_jobs_of_both_apis_are_cut_down_past_retention_then_dropped() -> None:
    clock = ManualClock()
    config = EmulatorConfig(retention=RETENTION, latency=LatencySpec.parse("fixed:1"))
    with running_emulator(config, clock=clock) as emu:
        async with openai.AsyncOpenAI(base_url=emu.url, api_key="x") as client:
            await client.responses.create(model="gpt-4.1-mini", input="a response", background=True)
            await client.chat.completions.create(
                model="gpt-4.1-mini", messages=[{"role": "user", "content": "a chat " + "x" * 5_000}]
            )
        clock.advance(2)
        listed = _listing(emu.url, "jobs")
        assert [job["status"] for job in listed] == ["completed", "completed"]
        clock.advance(RETENTION)
        emu.emulator.sweep()
        # The chat completion's request is let go as a forgotten response's is; the ledger still shows it.
        assert all(isinstance(job, EndedJob) for job in emu.emulator.jobs.values())
        chat_prompt = str(listed[1]["prompt"])
        assert len(chat_prompt) > 5_000
        assert _listing(emu.url, "jobs") == [listed[0], listed[1] | {"prompt": chat_prompt[:1_000]}]
        clock.advance(LEDGER_RETENTIONS * RETENTION)
        emu.emulator.sweep()
        assert _listing(emu.url, "jobs") == []
        stats = emu.emulator.stats()
        assert (stats["jobs"], stats["held"]) == (2, 0)  # still every job started


def test_weeks_of_creates_leave_two_retentions_of_entries() -> None:
    """Ten retentions of creates at a steady pace, the sweep coming every `_SWEEP_EVERY` creates as it
    does when serving: the ledger ends holding the last two retentions' jobs and those since the sweep."""
    clock = ManualClock()
    emulator = Emulator(EmulatorConfig(retention=RETENTION, latency=LatencySpec.parse("fixed:1")), clock)
    per_retention = _SWEEP_EVERY
    for row in range(10 * per_retention):
        body = {"model": "gpt-4.1-mini", "input": f"row {row}", "metadata": {"row": str(row)}}
        assert not emulator.draw_http_error(body)  # as the routes do before each create
        if row % 2:
            emulator.settle(emulator.start_chat(body, Faults()), answered=True)
        else:
            emulator.settle(emulator.job(emulator.create(body, Faults(), background=True).id), answered=True)
        clock.advance(RETENTION / per_retention)
    assert len(emulator.jobs) <= (LEDGER_RETENTIONS + 1) * per_retention
    assert emulator.stats()["jobs"] == 10 * per_retention
    assert len(emulator.records) <= 2 * per_retention
    # Each request's count (a retried one draws again) goes too, once unseen for two retentions.
    assert len(emulator.occurrences) <= (LEDGER_RETENTIONS + 1) * per_retention


def test_a_request_sent_again_within_a_retention_keeps_its_count() -> None:
    clock = ManualClock()
    emulator = Emulator(EmulatorConfig(retention=RETENTION, latency=LatencySpec.parse("fixed:1")), clock)
    body = {"model": "gpt-4.1-mini", "input": "the same row"}
    for _ in range(6):
        emulator.draw_http_error(body)  # counts the send, as each create does
        clock.advance(RETENTION / 2)
        emulator.sweep()
    assert emulator.occurrences[request_digest(body)] == 6
    clock.advance(2 * RETENTION)
    emulator.sweep()
    clock.advance(RETENTION)
    emulator.sweep()
    assert emulator.occurrences[request_digest(body)] == 0  # unseen for two retentions: forgotten


def _listing(url: str, what: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = httpx.get(url.removesuffix("/v1") + f"/emulator/{what}").json()["data"]
    return rows
