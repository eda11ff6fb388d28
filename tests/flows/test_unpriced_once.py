"""A model with no known price is said once per batch, at its first run, not at every run: a trial's
self-hosted model (vLLM, --backend chat) was told 'add a price' at every run of the same batch, though it
costs nothing per token. The batch's run.json keeps what was said; the closing summary still says the
cost is unknown at every run."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from tests.support.prefect_records import logs_of
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

MODEL = "Qwen/Qwen3-8B"
SAID = f"no openai price known for model {MODEL!r}"


async def _run(tmp_path: Path, emu: RunningEmulator, rows: int) -> tuple[Any, list[tuple[int, str]]]:
    """A run of the batch over the first `rows` tickets: its result, and its logs (level, message)."""
    from prefect.logging.handlers import APILogHandler

    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", rows)
    args = flow_args(tmp_path, emu, backend="chat", model=MODEL)
    state = await run_batch(str(source), **args, return_state=True)
    result = await state.aresult()
    await APILogHandler.aflush()  # the records go to the server in batches, from a worker thread
    said = [(log.level, log.message) for log in await logs_of(state.state_details.flow_run_id)]
    return result, said


async def test_a_model_with_no_price_is_said_at_the_batchs_first_run_only(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "unused")  # a vLLM server checks none
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        first, said = await _run(tmp_path, emu, 3)
        warned = [m for level, m in said if m.startswith(SAID) and level == logging.WARNING]
        assert len(warned) == 1, said
        assert warned[0].startswith(f"{SAID}: its rows get no cost_usd"), warned
        record = json.loads((tmp_path / "state" / "run.json").read_text())
        assert record["unpriced_said"] == [SAID]

        again, said = await _run(tmp_path, emu, 5)  # two rows more: the same batch, run again
    assert first.all_completed
    assert again.all_completed
    assert again.counts["completed"] == 5
    assert first.cost_usd is None
    assert again.cost_usd is None
    assert not [m for level, m in said if m.startswith(SAID) and level == logging.WARNING], said
    assert f"{SAID}: said at an earlier run of this batch; its rows get no cost_usd" in [m for _, m in said]
    assert json.loads((tmp_path / "state" / "run.json").read_text())["unpriced_said"] == [SAID]
