"""The jobs ledger outlives a response's retention, but not what the response held: an emulator that
forgets its ended responses lets go of their request bodies, plans and records, and its ledger still
counts every job, with its row, prompt, status and answer, as before."""

from __future__ import annotations

import gc
import shlex
import tracemalloc

import httpx
import openai
import pytest
import typer
from typer.testing import CliRunner

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator, server
from rowrelay.tasks.emulator.cli import emulator
from rowrelay.tasks.emulator.faults import Faults
from rowrelay.tasks.emulator.jobs import PROMPT_KEPT, EndedJob, Job
from rowrelay.tasks.emulator.service import Emulator
from rowrelay.tasks.settings import Settings
from tests.support.clock import ManualClock

RETENTION = 60.0
BIG = 200_000  # characters of one request's input: what an inline image makes of a body, in small


async def test_the_ledger_shows_forgotten_responses_jobs_as_it_did_while_they_were_held() -> None:
    clock = ManualClock()
    config = EmulatorConfig(retention=RETENTION, latency=LatencySpec.parse("fixed:1"), fail_rate=0.5, seed=3)
    with running_emulator(config, clock=clock) as emu:
        async with openai.AsyncOpenAI(base_url=emu.url, api_key="x") as client:
            for row in range(6):
                await client.responses.create(
                    model="gpt-4.1-mini",
                    input=f"row {row}",
                    background=True,
                    metadata={"rowrelay_row": str(row)},
                )
            clock.advance(2)  # every response has ended, some failed
            held = _jobs(emu.url)
            assert {job["status"] for job in held} == {"completed", "failed"}
            clock.advance(RETENTION)
            with pytest.raises(openai.NotFoundError):
                await client.responses.retrieve(str(held[0]["id"]))  # forgets it
        emu.emulator.sweep()  # and the rest
        assert emu.emulator.records == {}
        assert all(isinstance(job, EndedJob) for job in emu.emulator.jobs.values())
        assert _jobs(emu.url) == held  # every job, its row, prompt, status, answer and fault


def test_a_forgotten_responses_body_plan_and_record_are_let_go() -> None:
    """100 requests of 200,000 characters are 20 MB held; past retention, the ledger keeps the start of
    each prompt and a few hundred bytes more."""
    clock = ManualClock()
    emulator = Emulator(EmulatorConfig(retention=RETENTION, latency=LatencySpec.parse("fixed:1")), clock)
    gc.collect()
    tracemalloc.start()
    try:
        for row in range(100):
            body = {"model": "gpt-4.1-mini", "input": f"{row} " + "x" * BIG, "metadata": {"row": str(row)}}
            emulator.settle(emulator.job(emulator.create(body, Faults(), background=True).id), answered=True)
        holding, _ = tracemalloc.get_traced_memory()
        assert [len(job["prompt"]) for job in emulator.jobs_listing()][:2] == [
            2 + BIG,
            2 + BIG,
        ]  # held: whole
        clock.advance(RETENTION + 2)
        emulator.sweep()
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert holding > 100 * BIG
    assert kept < holding / 50, (holding, kept)
    assert [job.prompt for job in emulator.jobs.values() if isinstance(job, EndedJob)] == [
        (f"{row} " + "x" * BIG)[:PROMPT_KEPT] for row in range(100)
    ]


def test_a_response_still_working_when_forgotten_keeps_its_whole_entry() -> None:
    """Its job goes on (and is paid for) after the response is gone: the ledger must still say when it
    ends, so it keeps what its status is computed from."""
    clock = ManualClock()
    emulator = Emulator(EmulatorConfig(retention=RETENTION, latency=LatencySpec.parse("fixed:600")), clock)
    record = emulator.create({"model": "gpt-4.1-mini", "input": "long"}, Faults(), background=True)
    emulator.settle(emulator.job(record.id), answered=True)
    clock.advance(RETENTION + 1)
    assert emulator.get(record.id) is None
    assert isinstance(emulator.jobs[record.id], Job)
    assert emulator.jobs_listing()[0]["status"] == "in_progress"
    clock.advance(600)
    assert emulator.jobs_listing()[0]["status"] == "completed"


def _jobs(url: str) -> list[dict[str, object]]:
    listing: list[dict[str, object]] = httpx.get(url.removesuffix("/v1") + "/emulator/jobs").json()["data"]
    return listing


def test_the_embedded_emulator_holds_a_response_for_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded emulator is reused across runs for as long as the machine is up: with no retention it
    would hold every request it was ever sent."""
    served: list[EmulatorConfig] = []
    monkeypatch.setattr(server, "serve", lambda config, *_, **__: served.append(config))
    app = typer.Typer()
    app.command()(emulator)
    default = Settings.model_fields["emulator_args"].default
    result = CliRunner().invoke(app, shlex.split(default))
    assert result.exit_code == 0, result.output
    assert [config.retention for config in served] == [86_400]
