"""Web searches on the wire: `web_search_call` output items, their stream events and the answer's
`url_citation` annotations, as a response's timeline has them so far.

Shapes follow the spec's `WebSearchToolCall` (its action a `WebSearchActionSearch`), the
`ResponseWebSearchCall*Event`s, `UrlCitationBody` and `ResponseOutputTextAnnotationAddedEvent`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rowrelay.tasks.emulator.timeline import Entry, EntryKind, Record
from rowrelay.tasks.emulator.web_search import Citation

SEARCH_KINDS: frozenset[EntryKind] = frozenset(
    {"search_added", "search_in_progress", "search_searching", "search_completed", "search_done"}
)
SOURCES = "web_search_call.action.sources"
"""The `include` value that adds the pages a search used to its action."""
_STATUS: dict[EntryKind, str] = {
    "search_added": "in_progress",
    "search_searching": "searching",
    "search_completed": "completed",
}
"""A search item's status from the event that moved it on."""


def search_item_id(record: Record, index: int) -> str:
    """The id of the response's search number `index` (`ws_` + 48 hex, like the message's)."""
    return "ws_" + hashlib.blake2b(f"{record.id}|{index}".encode(), digest_size=24).hexdigest()


def search_items(record: Record, seen: tuple[Entry, ...], include: frozenset[str]) -> list[dict[str, Any]]:
    """The search items after the `seen` entries, in output order, each in the state it has reached."""
    if not record.plan.searches:
        return []
    reached: dict[int, str] = {}
    for entry in seen:
        status = _STATUS.get(entry.kind)
        if status is not None:
            reached[entry.chunk] = status
    return [search_item(record, index, status, include) for index, status in reached.items()]


def search_item(record: Record, index: int, status: str, include: frozenset[str]) -> dict[str, Any]:
    """A `web_search_call` item. The action names its query in both of the spec's fields (`query` is
    deprecated for `queries`); the pages found come only when asked for, once the search is done."""
    search = record.plan.searches[index]
    action: dict[str, Any] = {"type": "search", "query": search.query, "queries": [search.query]}
    if SOURCES in include and status == "completed":
        action["sources"] = [{"type": "url", "url": search.url}]
    return {
        "id": search_item_id(record, index),
        "type": "web_search_call",
        "status": status,
        "action": action,
    }


def search_event(record: Record, entry: Entry, include: frozenset[str]) -> dict[str, Any]:
    """A search's event without its `sequence_number`: its item added, `in_progress`, `searching`,
    `completed`, its item done. Searches follow the reasoning item, if any, in the output."""
    index = entry.chunk
    output_index = (1 if record.plan.reasoning else 0) + index
    if entry.kind in ("search_added", "search_done"):
        phase, status = ("added", "in_progress") if entry.kind == "search_added" else ("done", "completed")
        item = search_item(record, index, status, include)
        return {"type": f"response.output_item.{phase}", "output_index": output_index, "item": item}
    name = entry.kind.removeprefix("search_")
    where = {"output_index": output_index, "item_id": search_item_id(record, index)}
    return {"type": f"response.web_search_call.{name}", **where}


def url_citation(citation: Citation) -> dict[str, Any]:
    return {
        "type": "url_citation",
        "url": citation.url,
        "title": citation.title,
        "start_index": citation.start,
        "end_index": citation.end,
    }


def annotations_so_far(record: Record, seen: tuple[Entry, ...]) -> list[dict[str, Any]]:
    """The answer's annotations after the `seen` entries: one per `annotation_added` so far."""
    if not record.plan.citations:
        return []
    added = sum(1 for entry in seen if entry.kind == "annotation_added")
    return [url_citation(citation) for citation in record.plan.citations[:added]]


def annotation_event(record: Record, entry: Entry, where: dict[str, Any]) -> dict[str, Any]:
    """`response.output_text.annotation.added` for citation number `entry.chunk`; `where` names the text
    (item_id, output_index, content_index)."""
    citation = url_citation(record.plan.citations[entry.chunk])
    return {
        "type": "response.output_text.annotation.added",
        **where,
        "annotation_index": entry.chunk,
        "annotation": citation,
    }
