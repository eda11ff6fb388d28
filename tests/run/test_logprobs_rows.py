"""`--logprobs N`: each row keeps its answer's tokens, each token's log probability and its N likeliest
alternatives, as the server gave them, however the answer came (a poll, a stream cut and resumed, Chat
Completions), against the real emulator over a real socket through the official SDK; a model that
reasons, which gives none, stops the run at its first create."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import run_batch

ROWS = 8
ALTERNATIVES = 3


@pytest.mark.parametrize(
    ("mode", "streams", "cut", "transport"),
    [
        ("poll", 0, None, "lean"),  # every row polled: each poll asks for them
        ("poll", 0, None, "sdk"),  # the same through the SDK's own calls
        ("poll", 256, None, "lean"),  # every row followed on its create's stream
        ("stream", 256, None, "lean"),
        ("stream", 256, 6, "lean"),  # every stream cut after six events and resumed: each resume asks
        ("stream", 256, 6, "sdk"),
    ],
)
async def test_each_row_keeps_the_log_probabilities_the_server_gave_its_answer(
    tmp_path: Path, mode: str, streams: int, cut: int | None, transport: str
) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"), seed=4, drop_stream_after=cut)
    with running_emulator(config) as emu:
        await run_batch(
            emu,
            tmp_path / "batch",
            rows=ROWS,
            mode=mode,
            poll_streams=streams,
            transport=transport,
            logprobs=ALTERNATIVES,
        )
        frame = load(tmp_path / "batch")
        assert (frame["status"] == "completed").all()
        async with openai.AsyncOpenAI(base_url=emu.url, api_key="x") as client:
            for row in frame.itertuples():
                response = await client.responses.retrieve(
                    str(row.response_id), include=["message.output_text.logprobs"]
                )
                given = [
                    [
                        token.token,
                        token.logprob,
                        [[other.token, other.logprob] for other in token.top_logprobs],
                    ]
                    for item in response.output
                    if item.type == "message"
                    for part in item.content
                    if part.type == "output_text"
                    for token in part.logprobs or ()
                ]
                kept = json.loads(str(row.logprobs))
                assert kept == given
                assert "".join(token for token, _, _ in kept) == row.output_text
                assert {len(top) for _, _, top in kept} == {ALTERNATIVES}


async def test_chat_completions_rows_keep_them_too(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(seed=4)) as emu:
        await run_batch(emu, tmp_path / "batch", rows=ROWS, backend="chat", api_key="x", logprobs=0)
    frame = load(tmp_path / "batch")
    assert (frame["status"] == "completed").all()
    for row in frame.itertuples():
        kept = json.loads(str(row.logprobs))
        assert "".join(token for token, _, _ in kept) == row.output_text
        assert len(kept) == row.output_tokens  # one entry a token the answer was billed
        assert all(logprob <= 0 and top == [] for _, logprob, top in kept)


@pytest.mark.parametrize(("backend", "mode"), [("openai", "poll"), ("openai", "stream"), ("chat", "poll")])
async def test_a_model_that_reasons_stops_the_run_at_its_first_create(
    tmp_path: Path, backend: str, mode: str
) -> None:
    said = r"every create is refused for its (top_)?logprobs \(400\): .*not supported with this model"
    with running_emulator(EmulatorConfig()) as emu:
        with pytest.raises(BackendRefusedError, match=said):
            await run_batch(
                emu, tmp_path / "batch", rows=ROWS, backend=backend, mode=mode, api_key="x", model="o4-mini",
                logprobs=1,
            )  # fmt: skip
        assert emu.emulator.jobs == {}  # refused: nothing started, nothing paid
    assert set(load(tmp_path / "batch")["attempts"]) == {0}


async def test_a_batch_that_asks_for_none_keeps_none(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(seed=4)) as emu:
        await run_batch(emu, tmp_path / "batch", rows=ROWS)
        assert all("top_logprobs" not in job.body for job in map(emu.emulator.job, emu.emulator.jobs))
    assert load(tmp_path / "batch")["logprobs"].isna().all()


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_row_whose_create_answer_is_lost_spends_an_attempt_and_counts_its_job(
    tmp_path: Path, mode: str
) -> None:
    """A gateway loses a third of the creates' answers after their jobs started: each such job is
    counted on its row as a possible duplicate, within its attempts, never paid silently."""
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), gateway_error_rate=0.35, seed=9)
    with running_emulator(config) as emu:
        await run_batch(emu, tmp_path / "batch", rows=20, mode=mode, logprobs=2, max_attempts=3)
        jobs, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "batch")
    assert sum(unanswered.values()) > 0  # answers were lost: the guarantee was exercised
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    assert int(frame["orphans"].sum()) == sum(unanswered.values())
    completed = frame[frame["status"] == "completed"]
    assert completed["logprobs"].notna().all()  # rows sent again keep their answer's tokens
