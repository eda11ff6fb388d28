"""Deep research models (o3-deep-research, o4-mini-deep-research and their dated snapshots): reasoning
models with a 200,000-token window, refused without a tool to research with (web search, MCP or file
search) or with an MCP tool that asks for approval, which search the web and their files 3 to 8 times
when they may and never call MCP; on OpenAI's routes and Azure's alike."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import Response, ToolParam

from rowrelay.tasks.emulator import RunningEmulator
from tests.emulator.contract import Spec, check_response
from tests.support.emulator_checks import PROMPT, azure_client, check_refusal
from tests.support.file_search import FILE_SEARCH, check_cited, search_calls
from tests.support.web_search import CODE, MCP_NEVER, WEB_SEARCH, check_citations, mcp, searches_of

NEEDS_TOOLS = (
    "Deep research models require at least one of 'web_search_preview', 'mcp', or 'file_search' tools."
)
APPROVAL = (
    "Deep research models only support MCP tools with 'require_approval' set to 'never', "
    "but 'tools[{}].require_approval' is not 'never'."
)
LOOKUP: Any = {"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": False}
REFUSALS = {
    "no-tools": ("o3-deep-research", {}, NEEDS_TOOLS),
    "no-research-tool": ("o4-mini-deep-research-2025-06-26", {"tools": [CODE, LOOKUP]}, NEEDS_TOOLS),
    "mcp-approval-by-default": ("o3-deep-research", {"tools": [WEB_SEARCH, mcp()]}, APPROVAL.format(1)),
    "mcp-approval-always": ("o3-deep-research-2025-06-26", {"tools": [mcp(require_approval="always")]},
                            APPROVAL.format(0)),
    "mcp-approval-filtered": ("o4-mini-deep-research", {"tools": [mcp(require_approval={"never": {}})]},
                              APPROVAL.format(0)),
}  # fmt: skip


@pytest.mark.parametrize(("model", "fields", "message"), REFUSALS.values(), ids=REFUSALS.keys())
async def test_a_deep_research_model_is_refused_what_it_cannot_research_with(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    model: str,
    fields: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model=model, input=PROMPT, background=True, extra_body=fields)
    check_refusal(spec, caught.value, "tools", None, message)
    assert emulator.emulator.jobs_listing() == [], "nothing is started by a refused request"


async def create(client: AsyncOpenAI, spec: Spec, model: str, tools: list[Any]) -> Response:
    raw = await client.responses.with_raw_response.create(model=model, input=PROMPT, tools=tools)
    return check_response(spec, json.loads(raw.text))


WEB, FILES = "web_search_call", "file_search_call"


@pytest.mark.parametrize(
    ("tools", "searches"),
    [
        pytest.param([{"type": "web_search_preview"}], {WEB}, id="web-search-preview"),
        pytest.param([{"type": "web_search_2025_08_26"}], {WEB}, id="web-search-dated"),
        pytest.param([MCP_NEVER], set(), id="mcp-never"),
        pytest.param([FILE_SEARCH], {FILES}, id="file-search"),
        pytest.param([CODE, FILE_SEARCH, MCP_NEVER, WEB_SEARCH], {WEB, FILES}, id="all-of-them"),
    ],
)
@pytest.mark.parametrize("model", ["o3-deep-research", "o4-mini-deep-research-2025-06-26"])
async def test_a_deep_research_model_reasons_and_searches_the_web_and_files_but_calls_no_mcp(
    client: AsyncOpenAI, spec: Spec, model: str, tools: list[ToolParam], searches: set[str]
) -> None:
    response = await create(client, spec, model, tools)
    assert response.status == "completed"
    assert response.reasoning is not None
    assert response.reasoning.effort == "medium", "a reasoning model, at its default effort"
    assert response.output[0].type == "reasoning"
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens > 0
    assert {call.type for call in search_calls(response)} == searches
    if searches == {WEB}:
        assert 3 <= len(check_citations(response, PROMPT)) <= 8
    elif searches:
        assert 3 <= len(check_cited(response, PROMPT)) <= 8
    else:
        assert [item.type for item in response.output] == ["reasoning", "message"], "MCP: not called"


async def test_a_deep_research_models_context_window_is_200000_tokens(client: AsyncOpenAI) -> None:
    model, tools = "o3-deep-research-2025-06-26", [FILE_SEARCH]
    fits = await client.responses.create(model=model, input="word " * 160_000, tools=tools)
    assert fits.status == "completed", "more than the 128,000 of a model the emulator does not know"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model=model, input="a" * (200_000 * 4 + 1), tools=tools)
    assert caught.value.code == "context_length_exceeded"


async def test_the_azure_routes_search_and_refuse_alike(emulator: RunningEmulator, spec: Spec) -> None:
    """An Azure deployment is named by its owner; one named for deep research is taken for one."""
    async with azure_client(emulator.url.removesuffix("/v1"), api_key="az-key") as client:
        response = await client.responses.create(model="my-deep-research", input=PROMPT, tools=[WEB_SEARCH])
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(model="my-deep-research", input=PROMPT, tools=[LOOKUP])
    check_response(spec, response.to_dict())
    assert 3 <= len(check_citations(response, PROMPT)) == len(searches_of(response)) <= 8
    check_refusal(spec, caught.value, "tools", None, NEEDS_TOOLS)
    assert emulator.emulator.stats()["routes"]["POST /openai/responses"] == 2
    assert [job["kind"] for job in emulator.emulator.jobs_listing()] == ["response"], (
        "the refusal started none"
    )
