"""File search: a create with a file search tool is answered after K `file_search_call` items (1-3, 3-8 for
a deep research model, at most `max_tool_calls`), drawn from the request like the rest of the answer, each
finding one file in its tool's vector stores; the text cites each file with a `file_citation` at the end
of the stretch the file supports and writes nothing for it, so text and usage are the unsearched answer's
(a JSON answer cites nothing); what a search found comes only with `include`; offered web search too, the
model draws each search's kind. Every item, citation and echoed tool as the spec and the SDK type them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    FileSearchTool,
    FileSearchToolParam,
    ResponseFileSearchToolCall,
    ToolParam,
)

from tests.emulator.contract import Spec, check_response
from tests.support.emulator_checks import PROMPT
from tests.support.file_search import (
    FILE_ID,
    FILE_SEARCH,
    RESULTS,
    check_cited,
    check_file_citations,
    file_searches_of,
    queries_of,
    search_calls,
)
from tests.support.web_search import (
    LOOKUP,
    MCP_NEVER,
    SEARCH_TICKET,
    SEARCHES,
    WEB_SEARCH,
    create_checked,
    link_tokens,
    text_part,
    unlinked,
)

PROMPTS = [
    f"Ticket {n}: the customer's parcel from Lyon arrived broken, asks for a refund." for n in range(12)
]
QUIET: list[ToolParam] = [MCP_NEVER]
"""A research tool the model never calls: a deep research model is refused a create without one."""
TWO_STORES: FileSearchToolParam = {"type": "file_search", "vector_store_ids": ["vs_manuals", "vs_tickets"]}


@pytest.mark.parametrize("model", list(SEARCHES))
async def test_a_create_with_file_search_searches_k_times_then_cites_each_file_writing_nothing(
    client: AsyncOpenAI, spec: Spec, model: str
) -> None:
    """The searched answer is the unsearched one, word for word and token for token: a file citation is
    an offset beside the text, not text."""
    fewest, most = SEARCHES[model]
    counts = set()
    for prompt in PROMPTS:
        plain = await create_checked(client, spec, model=model, input=prompt, tools=QUIET)
        searched = await create_checked(client, spec, model=model, input=prompt, tools=[*QUIET, FILE_SEARCH])
        assert searched.status == "completed"
        counts.add(len(check_file_citations(searched, prompt)))
        assert text_part(searched).text == text_part(plain).text, "no link, no marker for a file"
        assert searched.usage == plain.usage
        assert (searched.output[0].type == "reasoning") == (model != "gpt-4.1")
    assert counts <= set(range(fewest, most + 1))
    assert len(counts) > 1, "the count is drawn per request"


async def test_a_limit_cuts_a_file_searched_answer_as_an_unsearched_one(
    client: AsyncOpenAI, spec: Spec
) -> None:
    """`max_output_tokens` short of the answer cuts the same words whether files are searched or not (a
    file citation needs no room), and the cut text still cites every file, within it."""
    full = await create_checked(client, spec, model="gpt-4.1", input=PROMPT, tools=[FILE_SEARCH])
    assert full.usage is not None
    limit = full.usage.output_tokens - 1
    plain = await create_checked(client, spec, model="gpt-4.1", input=PROMPT, max_output_tokens=limit)
    cut = await create_checked(
        client, spec, model="gpt-4.1", input=PROMPT, tools=[FILE_SEARCH], max_output_tokens=limit
    )
    assert cut.status == plain.status == "incomplete"
    assert cut.usage == plain.usage
    assert cut.usage is not None
    assert cut.usage.output_tokens == limit
    assert text_part(cut).text == text_part(plain).text
    assert len(check_file_citations(cut, PROMPT)) == len(file_searches_of(full))


async def test_results_come_only_when_included(client: AsyncOpenAI, spec: Spec) -> None:
    """`results` is null unless `include` asks for `file_search_call.results`; then it lists the one file
    the search found, the one its citation names, with what the search read in it and a score in (0, 1]."""
    raw = await client.responses.with_raw_response.create(
        model="o3-deep-research", input=PROMPT, tools=[FILE_SEARCH]
    )
    bare = check_response(spec, json.loads(raw.text))
    calls = [item for item in json.loads(raw.text)["output"] if item["type"] == "file_search_call"]
    assert calls
    assert all(call["results"] is None for call in calls), "null, not left out"
    found = await create_checked(
        client, spec, model="o3-deep-research", input=PROMPT, tools=[FILE_SEARCH], include=[RESULTS]
    )
    notes = check_file_citations(found, PROMPT)
    assert text_part(found) == text_part(bare), "asking for the results changes nothing else"
    for search, note in zip(file_searches_of(found), notes, strict=True):
        assert search.results is not None
        (result,) = search.results
        assert (result.file_id, result.filename) == (note.file_id, note.filename)
        assert result.score is not None
        assert 0 < result.score <= 1
        assert result.text is not None
        assert result.text.startswith(search.queries[0]), "the passage the query found"
        assert result.attributes == {}
    polled = await client.responses.retrieve(found.id, include=[RESULTS])
    assert polled.output == found.output
    unfound = await client.responses.retrieve(found.id)
    for item, full in zip(unfound.output, found.output, strict=True):
        if isinstance(full, ResponseFileSearchToolCall):
            assert item == full.model_copy(update={"results": None})
        else:
            assert item == full


@pytest.mark.parametrize("limit", [0, 1, 2, 3])
async def test_max_tool_calls_caps_the_file_searches(client: AsyncOpenAI, spec: Spec, limit: int) -> None:
    for prompt in PROMPTS[:4]:
        capped = await create_checked(
            client, spec, model="o3-deep-research", input=prompt, tools=[FILE_SEARCH], max_tool_calls=limit
        )
        assert len(check_file_citations(capped, prompt)) == limit, "a deep research model wants 3 or more"


@pytest.mark.parametrize("model", ["gpt-4.1", "o3-deep-research"])
async def test_offered_both_tools_the_model_draws_each_searchs_kind_and_cites_it_its_own_way(
    client: AsyncOpenAI, spec: Spec, model: str
) -> None:
    """Offering file search beside web search changes the kind of some searches, never their number or
    their queries; the pages' links are written in and counted, the files' citations neither."""
    kinds: list[set[str]] = []
    for prompt in PROMPTS:
        web = await create_checked(client, spec, model=model, input=prompt, tools=[WEB_SEARCH])
        both = await create_checked(client, spec, model=model, input=prompt, tools=[WEB_SEARCH, FILE_SEARCH])
        check_cited(both, prompt)
        kinds.append({call.type for call in search_calls(both)})
        assert list(map(queries_of, search_calls(both))) == list(map(queries_of, search_calls(web)))
        assert unlinked(text_part(both)) == unlinked(text_part(web)), "the same words"
        assert web.usage is not None
        assert both.usage is not None
        unsearched = web.usage.output_tokens - link_tokens(text_part(web))
        assert both.usage.output_tokens == unsearched + link_tokens(text_part(both))
    assert {"web_search_call", "file_search_call"} in kinds, "both kinds in one answer"
    assert {"web_search_call"} in kinds or {"file_search_call"} in kinds, "the kinds are drawn"


async def test_identical_creates_search_alike_and_each_store_holds_its_own_files(
    client: AsyncOpenAI, spec: Spec
) -> None:
    """Two identical creates find the same files and cite them at the same places (ids are the
    response's). A file is the store's and the query's: a create naming two stores finds files in each,
    the same questions of another store find other files of the same names."""
    params: Any = {"model": "o3-deep-research", "input": PROMPT, "include": [RESULTS]}
    first, again = [await create_checked(client, spec, **params, tools=[TWO_STORES]) for _ in range(2)]
    assert [call.model_copy(update={"id": ""}) for call in file_searches_of(first)] == [
        call.model_copy(update={"id": ""}) for call in file_searches_of(again)
    ]
    assert text_part(first) == text_part(again), "the same text, citing the same files at the same places"
    assert {call.id for call in file_searches_of(first)}.isdisjoint(
        call.id for call in file_searches_of(again)
    )
    names = [note.filename for note in check_file_citations(first, PROMPT)]
    files = [note.file_id for note in check_file_citations(first, PROMPT)]
    assert all(FILE_ID.fullmatch(file) for file in files)
    stores: list[set[str]] = []
    for store in TWO_STORES["vector_store_ids"]:
        alone = await create_checked(
            client, spec, **params, tools=[{"type": "file_search", "vector_store_ids": [store]}]
        )
        assert [note.filename for note in check_file_citations(alone, PROMPT)] == names
        stores.append({note.file_id for note in check_file_citations(alone, PROMPT)})
    assert stores[0].isdisjoint(stores[1]), "another store, other files"
    assert all(file in stores[0] | stores[1] for file in files)
    assert not stores[0].isdisjoint(files), "files found in the first store"
    assert not stores[1].isdisjoint(files), "and in the second"


@pytest.mark.parametrize("fmt", ["json_schema", "json_object"])
async def test_a_structured_answer_searches_files_but_cites_nothing(
    client: AsyncOpenAI, spec: Spec, fmt: str
) -> None:
    text: Any = {"format": {"type": fmt}}
    if fmt == "json_schema":
        text["format"] |= {"name": "ticket", "schema": SEARCH_TICKET, "strict": True}
    plain = await create_checked(client, spec, model="gpt-4.1", input=PROMPT, text=text)
    searched = await create_checked(
        client, spec, model="gpt-4.1", input=PROMPT, text=text, tools=[FILE_SEARCH]
    )
    assert len(file_searches_of(searched)) >= 1
    assert text_part(searched).annotations == []
    assert text_part(searched).text == text_part(plain).text
    assert searched.usage == plain.usage


@pytest.mark.parametrize(
    ("tools", "choice", "answer"),
    [
        pytest.param([FILE_SEARCH], "none", "message", id="tool-choice-none"),
        pytest.param([FILE_SEARCH, LOOKUP], "auto", "function_call", id="a-function-is-called-instead"),
        pytest.param([{"type": "file_search", "vector_store_ids": []}], "auto", "message", id="no-store"),
    ],
)
async def test_no_file_search_when_tools_are_ruled_out_a_function_is_called_or_no_store_is_named(
    client: AsyncOpenAI, spec: Spec, tools: list[ToolParam], choice: Any, answer: str
) -> None:
    response = await create_checked(
        client, spec, model="gpt-4.1", input=PROMPT, tools=tools, tool_choice=choice
    )
    assert [item.type for item in response.output] == [answer]
    if answer == "message":
        assert text_part(response).annotations == []


@pytest.mark.parametrize("model", ["gpt-4.1", "o3"])
async def test_the_file_search_tool_is_echoed_with_its_defaults(
    client: AsyncOpenAI, spec: Spec, model: str
) -> None:
    response = await create_checked(client, spec, model=model, input=PROMPT, tools=[FILE_SEARCH])
    (echoed,) = response.tools
    assert isinstance(echoed, FileSearchTool), "the SDK types the echoed tool as its own"
    assert echoed.to_dict(exclude_none=False) == {
        **FILE_SEARCH,
        "filters": None,
        "max_num_results": 20,
        "ranking_options": {"ranker": "auto", "score_threshold": 0.0},
    }
