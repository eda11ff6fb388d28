"""A run's server-side tools reach every create, each row's cost counts the searches its response made,
and a deep research model asked without a tool stops the run: against the real emulator over a real
socket, through the official SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.responses import Response

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.llm.prices import cost_usd, load_prices
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import run_batch

ROWS = 8


@pytest.fixture
def emu() -> Any:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), seed=5)) as running:
        yield running


@pytest.mark.parametrize(
    ("mode", "model", "fee"), [("poll", "gpt-4.1-mini", 0.025), ("stream", "o4-mini", 0.01)]
)
async def test_every_create_offers_the_runs_tools_and_each_rows_cost_counts_its_searches(
    emu: Any, tmp_path: Path, mode: str, model: str, fee: float
) -> None:
    """Web search preview is billed $25 per 1,000 calls on a model that does not reason, $10 on one that
    does; a row's cost is its tokens plus its response's searches, at most `max_tool_calls` of them."""
    await run_batch(
        emu,
        tmp_path / "batch",
        rows=ROWS,
        mode=mode,
        model=model,
        tools="web_search_preview",
        max_tool_calls=2,
    )
    frame = load(tmp_path / "batch")
    assert (frame["status"] == "completed").all()
    rates = load_prices(None).rates("openai", model, "default")
    assert rates is not None
    searches = []
    async with openai.AsyncOpenAI(base_url=emu.url, api_key="x") as client:
        for row in frame.itertuples():
            response = await client.responses.retrieve(str(row.response_id))
            assert [tool.type for tool in response.tools] == ["web_search_preview"]
            assert response.max_tool_calls == 2
            made = sum(item.type == "web_search_call" for item in response.output)
            assert response.usage is not None
            tokens = cost_usd(
                rates,
                input_tokens=response.usage.input_tokens,
                cached_tokens=response.usage.input_tokens_details.cached_tokens,
                output_tokens=response.usage.output_tokens,
            )
            assert row.cost_usd == pytest.approx(tokens + made * fee, abs=1e-9)
            assert json.loads(str(row.citations)) == _cited(response) != []
            searches.append(made)
    assert set(searches) <= {1, 2}
    assert 2 in searches  # the ceiling was reached by some rows, never passed


def _cited(response: Response, kind: str = "url_citation") -> list[dict[str, str]]:
    """The sources the answer's annotations of `kind` name (pages, or files), each once, in the order
    first cited, as the SDK's model of the response gives them."""
    sources: list[dict[str, str]] = []
    for item in response.output:
        for part in item.content if item.type == "message" else ():
            for note in part.annotations if part.type == "output_text" else ():
                if note.type != kind:
                    continue
                if note.type == "url_citation":
                    source = {"url": note.url, "title": note.title}
                elif note.type == "file_citation":
                    source = {"file_id": note.file_id, "filename": note.filename}
                if source not in sources:
                    sources.append(source)
    return sources


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_file_search_batch_counts_its_searches_and_keeps_the_files_its_answers_cite(
    emu: Any, tmp_path: Path, mode: str
) -> None:
    """File searches are billed $2.50 per 1,000 calls; an answer cites the files they found by a
    `file_citation` (no link in its text), and each row keeps them as its sources."""
    tools = '{"type": "file_search", "vector_store_ids": ["vs_contracts", "vs_policies"]}'
    await run_batch(emu, tmp_path / "batch", rows=ROWS, mode=mode, tools=tools, max_tool_calls=3)
    frame = load(tmp_path / "batch")
    assert (frame["status"] == "completed").all()
    rates = load_prices(None).rates("openai", "gpt-4.1-mini", "default")
    assert rates is not None
    async with openai.AsyncOpenAI(base_url=emu.url, api_key="x") as client:
        for row in frame.itertuples():
            response = await client.responses.retrieve(str(row.response_id))
            made = sum(item.type == "file_search_call" for item in response.output)
            assert made > 0
            assert made == row.tool_calls
            assert response.usage is not None
            usage = response.usage
            cached = usage.input_tokens_details.cached_tokens
            tokens = cost_usd(
                rates,
                input_tokens=usage.input_tokens,
                cached_tokens=cached,
                output_tokens=usage.output_tokens,
            )
            assert row.cost_usd == pytest.approx(tokens + made * 0.0025, abs=1e-9)
            files = _cited(response, "file_citation")
            assert json.loads(str(row.citations)) == files
            assert {file["file_id"][:5] for file in files} == {"file-"}
            assert "file-" not in str(row.output_text)  # a file is cited beside the text, not in it


async def test_a_deep_research_model_asked_without_a_tool_stops_the_run_and_with_one_completes(
    emu: Any, tmp_path: Path
) -> None:
    """OpenAI refuses a deep research create that offers no web search, file search or MCP tool: the same
    400 for every row, so the run stops at once with the server's words and no row fails."""
    with pytest.raises(
        BackendRefusedError, match=r"every create is refused for its tools \(400\): Deep research"
    ):
        await run_batch(emu, tmp_path / "without", rows=ROWS, model="o4-mini-deep-research")
    assert emu.emulator.listing() == []
    assert set(load(tmp_path / "without")["status"]) <= {"pending", "orphaned"}
    await run_batch(
        emu, tmp_path / "with", rows=ROWS, model="o4-mini-deep-research", tools="web_search_preview"
    )
    frame = load(tmp_path / "with")
    assert (frame["status"] == "completed").all()
    assert (frame["cost_usd"] > 0).all()


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_searching_row_whose_create_answer_is_lost_spends_an_attempt_and_counts_its_job(
    tmp_path: Path, mode: str
) -> None:
    """A gateway loses a third of the creates' answers after their jobs started (searches and all): each
    such job is counted on its row as a possible duplicate, within its attempts, never paid silently."""
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), gateway_error_rate=0.35, seed=9)
    with running_emulator(config) as emu:
        await run_batch(emu, tmp_path / "batch", rows=20, mode=mode, tools="web_search", max_attempts=3)
        jobs, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "batch")
    assert sum(unanswered.values()) > 0  # answers were lost: the guarantee was exercised
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    assert int(frame["orphans"].sum()) == sum(unanswered.values())
