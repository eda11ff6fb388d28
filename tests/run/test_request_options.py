"""A run's reasoning effort, temperature and output ceiling reach every create, and a parameter the model
refuses stops the run before any row fails: against the real emulator over a real socket, through the
official SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import load
from tests.support.runs import new_table, prompts, run_batch, settings_for

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


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_every_create_asks_for_the_runs_temperature(
    emu: RunningEmulator, tmp_path: Path, mode: str
) -> None:
    await run_batch(emu, tmp_path / "batch", rows=ROWS, mode=mode, temperature=0.0)
    frame = load(tmp_path / "batch")
    assert (frame["status"] == "completed").all()
    served = await _served(emu, list(frame["response_id"]))
    assert [response.temperature for response in served] == [0.0] * ROWS


async def test_no_effort_asked_sends_none_and_the_model_reasons_at_its_default(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    await run_batch(emu, tmp_path / "batch", rows=ROWS, model="o4-mini", max_output_tokens=4000)
    frame = load(tmp_path / "batch")
    served = await _served(emu, list(frame["response_id"]))
    assert {response.reasoning.effort for response in served} == {"medium"}  # the server's default
    assert {response.temperature for response in served} == {1.0}  # none sent: a reasoning model's only
    assert {response.max_output_tokens for response in served} == {4000}


@pytest.mark.parametrize(
    ("backend", "mode", "model", "asked", "param"),
    [
        ("openai", "poll", "gpt-4.1-mini", "high", "reasoning.effort"),  # not a reasoning model
        ("openai", "stream", "gpt-4.1-mini", "high", "reasoning.effort"),
        ("openai", "poll", "o4-mini", "minimal", "reasoning.effort"),  # a reasoning model without it
        ("openai", "stream", "o4-mini", "minimal", "reasoning.effort"),
        ("chat", "poll", "gpt-4.1-mini", "low", "reasoning_effort"),
        ("openai", "poll", "o4-mini", 0.2, "temperature"),  # a reasoning model takes only the default
        ("openai", "stream", "o4-mini", 0.2, "temperature"),
        ("chat", "poll", "o4-mini", 0.2, "temperature"),
    ],
)
async def test_a_parameter_the_model_refuses_stops_the_run_and_fails_no_row(
    emu: RunningEmulator, tmp_path: Path, backend: str, mode: str, model: str, asked: Any, param: str
) -> None:
    """Every row would be refused the same 400, which names the parameter: the run stops at once with the
    server's words, rather than fail each row as if its own request were bad. Nothing started on the
    server; rows go back to pending, and those whose create was still on the wire when the run stopped
    are counted as maybe sent, within their attempts, as at any stop."""
    with pytest.raises(BackendRefusedError, match=rf"every create is refused for its {param} \(400\)"):
        await run_batch(
            emu, tmp_path / "batch", rows=20, backend=backend, mode=mode, model=model, api_key="unused",
            **{"temperature" if param == "temperature" else "reasoning_effort": asked},
        )  # fmt: skip
    assert emu.emulator.listing() == []
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) <= {"pending", "orphaned"}  # no row failed, none left submitting
    assert "pending" in set(frame["status"])
    assert (frame.loc[frame["status"] == "pending", "attempts"] == 0).all()
    cut_short = frame[frame["status"] == "orphaned"]
    assert (cut_short["attempts"] == 1).all()
    assert (cut_short["orphans"] == 1).all()


async def test_a_row_too_long_for_the_model_fails_alone_and_the_run_goes_on(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    """A 400 about a row's own input (its document past the model's context window) is that row's: it
    fails as `rejected` with the server's words, spends no job, and every other row completes."""
    asked = prompts(ROWS)
    asked["row-0002"] = "word " * 130_000  # past gpt-4o-mini's 128,000 tokens (four characters a token)
    table = new_table(tmp_path / "batch", ROWS)
    session = open_session(settings_for(emu, model="gpt-4o-mini"), table, asked)
    try:
        await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    frame = load(tmp_path / "batch").set_index("row_key")
    too_long = frame.loc["row-0002"]
    assert too_long["status"] == "failed"
    assert too_long["error_type"] == "rejected"
    assert "exceeds the context window" in too_long["error_message"]
    assert (frame.drop(index="row-0002")["status"] == "completed").all()
    served = {response["metadata"]["rowrelay_row"] for response in emu.emulator.listing()}
    assert served == set(frame.index) - {"row-0002"}
