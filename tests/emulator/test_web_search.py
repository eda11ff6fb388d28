"""Web search: a create with a web search tool is answered after K `web_search_call` items (1-3, 3-8 for a
deep research model, at most `max_tool_calls`), drawn from the request like the rest of the answer, and
its text cites each page found with a link written into it, ` ([example.com](url))`, which the page's
annotation spans exactly and usage counts (a JSON answer gets neither); each item, citation and echoed
tool as the spec and the SDK type them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseFunctionWebSearch,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseTextDeltaEvent,
    ToolParam,
)
from openai.types.responses.response_function_web_search import ActionSearch
from openai.types.responses.response_output_text import AnnotationURLCitation
from openai.types.responses.web_search_preview_tool import WebSearchPreviewTool
from openai.types.responses.web_search_tool import WebSearchTool

from tests.emulator.contract import Spec
from tests.support.emulator_checks import PROMPT
from tests.support.web_search import (
    LOOKUP,
    MCP_NEVER,
    SEARCH_TICKET,
    SEARCHES,
    SOURCES,
    WEB_SEARCH,
    WEB_SEARCH_PREVIEW,
    WEB_SEARCH_TYPES,
    check_citations,
    create_checked,
    link_tokens,
    searches_of,
    text_part,
    unlinked,
)

PROMPTS = [
    f"Ticket {n}: the customer's parcel from Lyon arrived broken, asks for a refund." for n in range(12)
]


@pytest.mark.parametrize("model", list(SEARCHES))
async def test_a_create_with_web_search_searches_k_times_then_answers_citing_each_page(
    client: AsyncOpenAI, spec: Spec, model: str
) -> None:
    fewest, most = SEARCHES[model]
    counts = set()
    for prompt in PROMPTS:
        response = await create_checked(client, spec, model=model, input=prompt, tools=[WEB_SEARCH_PREVIEW])
        assert response.status == "completed"
        counts.add(len(check_citations(response, prompt)))
        assert (response.output[0].type == "reasoning") == (model != "gpt-4.1")
    assert counts <= set(range(fewest, most + 1))
    assert len(counts) > 1, "the count is drawn per request"


@pytest.mark.parametrize("kind", WEB_SEARCH_TYPES)
async def test_every_web_search_type_searches_and_identical_creates_search_alike(
    client: AsyncOpenAI, spec: Spec, kind: str
) -> None:
    tool: Any = {"type": kind}
    first, again = [
        await create_checked(client, spec, model="gpt-4.1", input=PROMPT, tools=[tool]) for _ in range(2)
    ]
    assert [s.action.to_dict() for s in searches_of(first)] == [
        s.action.to_dict() for s in searches_of(again)
    ]
    assert text_part(first) == text_part(again), "the same text, citing the same pages at the same places"
    assert [s.id for s in searches_of(first)] != [s.id for s in searches_of(again)], "ids are the response's"


@pytest.mark.parametrize("limit", [0, 1, 2, 3])
async def test_max_tool_calls_caps_the_searches_and_is_echoed(
    client: AsyncOpenAI, spec: Spec, limit: int
) -> None:
    for prompt in PROMPTS[:4]:
        capped = await create_checked(
            client, spec, model="o3-deep-research", input=prompt, tools=[WEB_SEARCH], max_tool_calls=limit
        )
        assert len(check_citations(capped, prompt)) == limit, "a deep research model wants 3 or more"
        assert capped.max_tool_calls == limit
    plain = await create_checked(client, spec, model="gpt-4.1", input=PROMPT)
    assert plain.max_tool_calls is None


@pytest.mark.parametrize(
    ("tools", "choice", "answer"),
    [
        pytest.param([WEB_SEARCH], "none", "message", id="tool-choice-none"),
        pytest.param([WEB_SEARCH, LOOKUP], "auto", "function_call", id="a-function-is-called-instead"),
        pytest.param([LOOKUP, WEB_SEARCH], "none", "message", id="none-with-both"),
    ],
)
async def test_no_search_when_tools_are_ruled_out_or_a_function_is_called(
    client: AsyncOpenAI, spec: Spec, tools: list[ToolParam], choice: Any, answer: str
) -> None:
    response = await create_checked(
        client, spec, model="gpt-4.1", input=PROMPT, tools=tools, tool_choice=choice
    )
    assert [item.type for item in response.output] == [answer]
    if answer == "message":
        assert text_part(response).annotations == []
    else:
        assert isinstance(response.output[0], ResponseFunctionToolCall)


async def test_searching_writes_each_link_into_the_text_and_counts_it_in_usage(
    client: AsyncOpenAI, spec: Spec
) -> None:
    """The searched answer is the unsearched one with its links written in, and its output tokens are the
    unsearched answer's plus its links' (each with its space, four characters a token)."""
    for model in ("gpt-4.1", "o3-deep-research"):
        # A deep research model must have a research tool: an MCP server, which it never calls, is one.
        quiet: list[ToolParam] = [MCP_NEVER]
        plain = await create_checked(client, spec, model=model, input=PROMPT, tools=quiet)
        searched = await create_checked(client, spec, model=model, input=PROMPT, tools=[*quiet, WEB_SEARCH])
        assert [item.type for item in plain.output][-1:] == ["message"]
        assert len(check_citations(searched, PROMPT)) >= 1
        part = text_part(searched)
        assert part.text != text_part(plain).text
        assert unlinked(part) == text_part(plain).text, "the same words, the links written in"
        assert plain.usage is not None
        assert searched.usage is not None
        assert searched.usage.input_tokens == plain.usage.input_tokens
        assert searched.usage.output_tokens_details == plain.usage.output_tokens_details
        assert searched.usage.output_tokens == plain.usage.output_tokens + link_tokens(part)
        assert searched.usage.total_tokens == searched.usage.input_tokens + searched.usage.output_tokens


async def test_each_annotation_spans_exactly_its_link(client: AsyncOpenAI, spec: Spec) -> None:
    for model in ("gpt-4.1", "o4-mini-deep-research"):
        for prompt in PROMPTS[:4]:
            response = await create_checked(
                client, spec, model=model, input=prompt, tools=[WEB_SEARCH_PREVIEW]
            )
            part = text_part(response)
            assert part.annotations
            for note in part.annotations:
                assert isinstance(note, AnnotationURLCitation)
                assert part.text[note.start_index : note.end_index] == f"([example.com]({note.url}))"
                assert part.text[note.start_index - 1] == " "


async def test_a_limit_cuts_the_words_so_that_the_links_fit(client: AsyncOpenAI, spec: Spec) -> None:
    """`max_output_tokens` one token short of the searched answer: the answer is cut a word short, keeps
    every link, and its output tokens reach the limit exactly (never pass it)."""
    full = await create_checked(client, spec, model="gpt-4.1", input=PROMPT, tools=[WEB_SEARCH])
    assert full.usage is not None
    limit = full.usage.output_tokens - 1
    cut = await create_checked(
        client, spec, model="gpt-4.1", input=PROMPT, tools=[WEB_SEARCH], max_output_tokens=limit
    )
    assert cut.status == "incomplete"
    assert cut.usage is not None
    assert cut.usage.output_tokens == limit
    assert len(check_citations(cut, PROMPT)) == len(searches_of(full))
    assert unlinked(text_part(cut)).split() == unlinked(text_part(full)).split()[:-1]


@pytest.mark.parametrize("fmt", ["json_schema", "json_object"])
async def test_a_structured_answer_searches_but_writes_no_links_and_lists_no_citations(
    client: AsyncOpenAI, spec: Spec, fmt: str
) -> None:
    """The service keeps a JSON answer intact after searching: no link in it, no annotation on it."""
    text: Any = {"format": {"type": fmt}}
    if fmt == "json_schema":
        text["format"] |= {"name": "ticket", "schema": SEARCH_TICKET, "strict": True}
    plain = await create_checked(client, spec, model="gpt-4.1", input=PROMPT, text=text)
    searched = await create_checked(
        client, spec, model="gpt-4.1", input=PROMPT, text=text, tools=[WEB_SEARCH]
    )
    assert len(searches_of(searched)) >= 1
    part = text_part(searched)
    assert part.annotations == []
    assert part.text == text_part(plain).text
    assert "example.com" not in part.text
    assert searched.usage == plain.usage
    if fmt == "json_schema":
        assert set(json.loads(part.text)) == {"category", "urgent"}
    stream = await client.responses.create(
        model="gpt-4.1", input=PROMPT, text=text, tools=[WEB_SEARCH], stream=True
    )
    events = [event async for event in stream]
    assert not any(isinstance(event, ResponseOutputTextAnnotationAddedEvent) for event in events)
    deltas = "".join(event.delta for event in events if isinstance(event, ResponseTextDeltaEvent))
    assert deltas == part.text


async def test_sources_come_only_when_included(client: AsyncOpenAI, spec: Spec) -> None:
    bare = await create_checked(client, spec, model="o3-deep-research", input=PROMPT, tools=[WEB_SEARCH])
    assert all(isinstance(s.action, ActionSearch) and s.action.sources is None for s in searches_of(bare))
    raw = await client.responses.with_raw_response.create(model="gpt-4.1", input=PROMPT, tools=[WEB_SEARCH])
    assert all("sources" not in item["action"] for item in json.loads(raw.text)["output"][:-1])
    sourced = await create_checked(
        client, spec, model="o3-deep-research", input=PROMPT, tools=[WEB_SEARCH], include=[SOURCES]
    )
    citations = check_citations(sourced, PROMPT)
    for search, citation in zip(searches_of(sourced), citations, strict=True):
        assert isinstance(search.action, ActionSearch)
        assert [source.to_dict() for source in search.action.sources or ()] == [
            {"type": "url", "url": citation.url.removesuffix("?utm_source=openai")}
        ]
    polled = await client.responses.retrieve(sourced.id, include=[SOURCES])
    assert polled.output == sourced.output
    unsourced = await client.responses.retrieve(sourced.id)
    for item, full in zip(unsourced.output, sourced.output, strict=True):
        if isinstance(full, ResponseFunctionWebSearch):
            assert isinstance(item, ResponseFunctionWebSearch)
            assert item.action.to_dict() == {k: v for k, v in full.action.to_dict().items() if k != "sources"}
        else:
            assert item == full


async def test_web_search_tools_are_echoed_with_their_defaults(client: AsyncOpenAI, spec: Spec) -> None:
    located: Any = {"type": "web_search_preview", "user_location": {"type": "approximate", "city": "Lyon"}}
    narrow: Any = {
        "type": "web_search",
        "search_context_size": "high",
        "filters": {"allowed_domains": ["a.org"]},
    }
    response = await create_checked(
        client, spec, model="gpt-4.1", input=PROMPT, tools=[WEB_SEARCH, located, narrow]
    )
    default, preview, given = response.tools
    assert isinstance(default, WebSearchTool)
    assert isinstance(preview, WebSearchPreviewTool)
    assert isinstance(given, WebSearchTool)
    nowhere = {"type": "approximate", "city": None, "country": None, "region": None, "timezone": None}
    assert default.to_dict(exclude_none=False) == {
        "type": "web_search",
        "filters": None,
        "search_context_size": "medium",
        "user_location": {**nowhere, "country": "US"},
    }
    assert preview.to_dict(exclude_none=False) == {
        "type": "web_search_preview",
        "search_context_size": "medium",
        "user_location": {**nowhere, "city": "Lyon"},
    }
    assert given.search_context_size == "high"
    assert given.filters is not None
    assert given.filters.allowed_domains == ["a.org"]
