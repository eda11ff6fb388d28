"""Checks the web search tests share: the tools they send, a searched answer's items and citations, and
the event order of a searched answer's stream (whichever kind its searches are: web, file or both)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from openai import AsyncOpenAI
from openai.types.responses import (
    FunctionToolParam,
    Response,
    ResponseFunctionWebSearch,
    ResponseIncludable,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
    ToolParam,
    WebSearchPreviewToolParam,
    WebSearchToolParam,
)
from openai.types.responses.response_function_web_search import ActionSearch
from openai.types.responses.response_output_text import AnnotationFileCitation, AnnotationURLCitation

from tests.emulator.contract import Spec, check_event, check_response

WEB_SEARCH: WebSearchToolParam = {"type": "web_search"}
WEB_SEARCH_PREVIEW: WebSearchPreviewToolParam = {"type": "web_search_preview"}
WEB_SEARCH_TYPES = (
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
)
MCP_NEVER: ToolParam = {
    "type": "mcp",
    "server_label": "tickets",
    "server_url": "https://mcp.example.com/sse",
    "require_approval": "never",
}
SEARCHES = {
    "gpt-4.1": (1, 3),
    "o3": (1, 3),
    "o3-deep-research": (3, 8),
    "o4-mini-deep-research-2025-06-26": (3, 8),
}
"""How many searches each model runs, at least and at most."""
SEARCH_ID = re.compile(r"ws_[0-9a-f]{48}")
SOURCES: ResponseIncludable = "web_search_call.action.sources"


def searches_of(response: Response) -> list[ResponseFunctionWebSearch]:
    """The web search items, checked to come after any reasoning item and before the one message, each
    typed by the SDK (not an unknown item) and completed, with a search action."""
    kinds = [item.type for item in response.output]
    reasoning = kinds.count("reasoning")
    assert kinds == ["reasoning"] * reasoning + ["web_search_call"] * (len(kinds) - reasoning - 1) + [
        "message"
    ]
    assert reasoning <= 1
    assert all(isinstance(item, ResponseReasoningItem) for item in response.output[:reasoning])
    searches = [item for item in response.output if isinstance(item, ResponseFunctionWebSearch)]
    assert len(searches) == len(kinds) - reasoning - 1, "every search is typed as the SDK's own item"
    for search in searches:
        assert SEARCH_ID.fullmatch(search.id), search.id
        assert search.status == "completed"
        assert isinstance(search.action, ActionSearch)
        assert search.action.query
        assert search.action.queries == [search.action.query]
    assert len({search.id for search in searches}) == len(searches)
    return searches


def text_part(response: Response) -> ResponseOutputText:
    message = response.output[-1]
    assert isinstance(message, ResponseOutputMessage)
    (part,) = message.content
    assert isinstance(part, ResponseOutputText)
    return part


def check_citations(response: Response, prompt: str) -> list[AnnotationURLCitation]:
    """One `url_citation` per search, in order: its page on example.com (the search's source, as cited),
    written into the text as the service writes it, ` ([example.com](url))` after the stretch of words it
    supports, the annotation spanning exactly that link; the links spread through the text, the last
    closing it. Each query is words of the prompt."""
    searches = searches_of(response)
    part = text_part(response)
    citations = [note for note in part.annotations if isinstance(note, AnnotationURLCitation)]
    assert len(citations) == len(part.annotations) == len(searches)
    words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9'-]*", prompt))
    spread = len(unlinked(part).split()) >= len(citations)
    end = 0
    for search, citation in zip(searches, citations, strict=True):
        assert search.action.type == "search"
        assert search.action.query is not None
        assert set(search.action.query.split()) <= words, search.action.query
        assert citation.url.startswith("https://example.com/")
        assert citation.url.endswith("?utm_source=openai")
        assert citation.title
        assert end < citation.start_index < citation.end_index <= len(part.text)
        assert part.text[citation.start_index : citation.end_index] == f"([example.com]({citation.url}))"
        before = part.text[end : citation.start_index]
        assert before[-1:] == " ", "a space before the link"
        assert not before[-2:-1].isspace(), "right after a word or a link"
        assert before.strip() or not spread, "each link after words of its own when there are words enough"
        end = citation.end_index
    assert not citations or end == len(part.text), "the last link closes the text"
    assert len(LINK.findall(part.text)) == len(citations), "no link without its annotation"
    return citations


LINK = re.compile(r"\(\[[^\]]*\]\([^)]*\)\)")
"""A citation's link as the service writes it: `([label](url))`."""


def unlinked(part: ResponseOutputText) -> str:
    """The text without its links (each with the space before it): what the answer says unsearched. A
    file's citation has nothing in the text to take out."""
    text = part.text
    for note in reversed(part.annotations):
        if isinstance(note, AnnotationFileCitation):
            continue
        assert isinstance(note, AnnotationURLCitation)
        assert text[note.start_index - 1] == " "
        text = text[: note.start_index - 1] + text[note.end_index :]
    return text


def link_tokens(part: ResponseOutputText) -> int:
    """The output tokens the emulator counts for the text's links: each with its space, four characters
    a token, rounded up (as it estimates any text it does not draw word by word)."""
    notes = [note for note in part.annotations if isinstance(note, AnnotationURLCitation)]
    return sum(math.ceil((note.end_index - note.start_index + 1) / 4) for note in notes)


def search_events(call: str) -> list[str]:
    """The events of one search whose item is of type `call` (`web_search_call`, `file_search_call`), in
    the order the service sends them."""
    steps = [f"response.{call}.{step}" for step in ("in_progress", "searching", "completed")]
    return ["response.output_item.added", *steps, "response.output_item.done"]


ANNOTATION = "response.output_text.annotation.added"


def check_search_stream(
    spec: Spec, events: list[dict[str, Any]], *, background: bool, reasoning: bool
) -> int:
    """Every event against the spec and the SDK, numbered 0, 1, 2, ...; the whole order of a searched
    answer: the reasoning item, each search's five events (a web or a file search's), the message with its
    deltas, one annotation per search after them, the done events carrying the annotations. What a search
    found comes in its item once it is done, if at all. Returns the number of searches."""
    for event in events:
        check_event(spec, event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    types = [e["type"] for e in events]
    final = events[-1]["response"]
    first = 1 if reasoning else 0
    calls = [item["type"] for item in final["output"][first:-1]]
    count = len(calls)
    assert count == sum(kind.endswith("_search_call.searching") for kind in types)
    deltas = types.count("response.output_text.delta")
    head = ["response.created", *(["response.queued"] if background else []), "response.in_progress"]
    head += ["response.output_item.added", "response.output_item.done"] if reasoning else []
    searching = [kind for call in calls for kind in search_events(call)]
    message = ["response.output_item.added", "response.content_part.added"]
    message += ["response.output_text.delta"] * deltas + [ANNOTATION] * count
    tail = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    assert types == [*head, *searching, *message, *tail, "response.completed"]
    for index in range(count):
        added, *progress, done = (e for e in events if e.get("output_index") == first + index)
        item = final["output"][first + index]
        if item["type"] == "web_search_call":
            action = {key: value for key, value in item["action"].items() if key != "sources"}
            unfound = {**item, "status": "in_progress", "action": action}
        else:
            unfound = {**item, "status": "in_progress", "results": None}
        assert added["item"] == unfound, "what was found comes once done"
        assert done["item"] == item
        assert {e["item_id"] for e in progress} == {item["id"]}
        assert all(set(e) == {"type", "output_index", "item_id", "sequence_number"} for e in progress)
    notes = [e for e in events if e["type"] == ANNOTATION]
    part = final["output"][-1]["content"][0]
    assert [e["annotation"] for e in notes] == part["annotations"]
    assert [e["annotation_index"] for e in notes] == list(range(count))
    assert {(e["item_id"], e["output_index"], e["content_index"]) for e in notes} <= {
        (final["output"][-1]["id"], first + count, 0)
    }
    by_type = {e["type"]: e for e in events}
    deltas_text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas_text == part["text"], "the links stream inside the text's deltas"
    assert by_type["response.output_text.done"]["text"] == part["text"]
    assert by_type["response.content_part.done"]["part"] == part
    assert by_type["response.output_item.done"]["item"] == final["output"][-1]
    return count


CODE: ToolParam = {"type": "code_interpreter", "container": {"type": "auto"}}


def mcp(**fields: Any) -> dict[str, Any]:
    """An MCP tool on a server of a reserved domain, with `fields` added."""
    return {"type": "mcp", "server_label": "tickets", "server_url": "https://mcp.example.com/sse", **fields}


SEARCH_TICKET = {
    "type": "object",
    "properties": {"category": {"type": "string"}, "urgent": {"type": "boolean"}},
    "required": ["category", "urgent"],
    "additionalProperties": False,
}
"""A structured answer's schema: an answer after searches that must stay JSON, so cites nothing."""
LOOKUP: FunctionToolParam = {
    "type": "function",
    "name": "lookup_ticket",
    "parameters": {"type": "object", "properties": {}},
    "strict": False,
}
"""A function the model calls instead of searching, when offered beside a search tool."""


async def create_checked(client: AsyncOpenAI, spec: Spec, **params: Any) -> Response:
    """A foreground create, its raw body checked against the spec and parsed by the SDK's types."""
    raw = await client.responses.with_raw_response.create(**params)
    return check_response(spec, json.loads(raw.text))
