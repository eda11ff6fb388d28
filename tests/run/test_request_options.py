"""A run's reasoning effort and output ceiling reach every create, and a parameter the model refuses stops
the run before any row fails: against the real emulator over a real socket, through the official SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.state import load
from tests.support.runs import run_batch

ROWS = 6


@pytest.fixture
def emu() -> Any:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), seed=3)) as running:
        yield running


async def _served(emu: RunningEmulator, response_ids: list[str]) -> list[Any]:
    async with openai.AsyncOpenAI(base_url=emu.url, api_key="x") as client:
        return [await client.responses.retrieve(response_id) for response_id in response_ids]


@pytest.mark.parametrize(("backend", "mode"), [("openai", "poll"), ("openai", "stream"), ("chat", "poll")])
async def test_every_create_asks_for_the_runs_effort_and_the_tokens_follow_it(
    emu: RunningEmulator, tmp_path: Path, backend: str, mode: str
) -> None:
    """The same rows at low and at high effort: each answered response says the effort it was asked for,
    and each row's reasoning tokens (billed as output) are four times as many at high as at low."""
    reasoning: dict[str, list[int]] = {}
    for effort in ("low", "high"):
        directory = tmp_path / effort
        await run_batch(
            emu, directory, rows=ROWS, backend=backend, mode=mode, model="o4-mini", reasoning_effort=effort,
            api_key="unused",
        )  # fmt: skip
        frame = load(directory).sort_values("row_key")
        assert (frame["status"] == "completed").all()
        assert (frame["attempts"] == 1).all()
        reasoning[effort] = [int(n) for n in frame["reasoning_tokens"]]
        assert all(n > 0 for n in reasoning[effort])
        assert (frame["output_tokens"] > frame["reasoning_tokens"]).all()
        if backend == "openai":  # Chat Completions keeps no response to read back
            served = await _served(emu, list(frame["response_id"]))
            assert [response.reasoning.effort for response in served] == [effort] * ROWS
    for low, high in zip(reasoning["low"], reasoning["high"], strict=True):
        assert high == pytest.approx(4 * low, abs=4)


async def test_no_effort_asked_sends_none_and_the_model_reasons_at_its_default(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    await run_batch(emu, tmp_path / "batch", rows=ROWS, model="o4-mini", max_output_tokens=4000)
    frame = load(tmp_path / "batch")
    served = await _served(emu, list(frame["response_id"]))
    assert {response.reasoning.effort for response in served} == {"medium"}  # the server's default
    assert {response.max_output_tokens for response in served} == {4000}


@pytest.mark.parametrize(
    ("backend", "mode", "model", "effort", "param"),
    [
        ("openai", "poll", "gpt-4.1-mini", "high", "reasoning.effort"),  # not a reasoning model
        ("openai", "stream", "gpt-4.1-mini", "high", "reasoning.effort"),
        ("openai", "poll", "o4-mini", "minimal", "reasoning.effort"),  # a reasoning model without it
        ("openai", "stream", "o4-mini", "minimal", "reasoning.effort"),
        ("chat", "poll", "gpt-4.1-mini", "low", "reasoning_effort"),
    ],
)
async def test_an_effort_the_model_refuses_stops_the_run_and_fails_no_row(
    emu: RunningEmulator, tmp_path: Path, backend: str, mode: str, model: str, effort: str, param: str
) -> None:
    """Every row would be refused the same 400, which names the parameter: the run stops at once with the
    server's words, rather than fail each row as if its own request were bad. Nothing started on the
    server; rows go back to pending, and those whose create was still on the wire when the run stopped
    are counted as maybe sent, within their attempts, as at any stop."""
    with pytest.raises(BackendRefusedError, match=rf"every create is refused for its {param} \(400\)"):
        await run_batch(
            emu, tmp_path / "batch", rows=20, backend=backend, mode=mode, model=model,
            reasoning_effort=effort, api_key="unused",
        )  # fmt: skip
    assert emu.emulator.listing() == []
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) <= {"pending", "orphaned"}  # no row failed, none left submitting
    assert "pending" in set(frame["status"])
    assert (frame.loc[frame["status"] == "pending", "attempts"] == 0).all()
    cut_short = frame[frame["status"] == "orphaned"]
    assert (cut_short["attempts"] == 1).all()
    assert (cut_short["orphans"] == 1).all()
