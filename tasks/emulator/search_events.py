"""Searches on the wire: `web_search_call` and `file_search_call` output items, their stream events and the
answer's `url_citation` and `file_citation` annotations, as a response's timeline has them so far.

Shapes follow the spec's `WebSearchToolCall` (its action a `WebSearchActionSearch`), `FileSearchToolCall`,
the `ResponseWebSearchCall*Event`s and `ResponseFileSearchCall*Event`s, `UrlCitationBody`,
`FileCitationBody` and `ResponseOutputTextAnnotationAddedEvent`. Both kinds of search live through the same
five events (item added, `in_progress`, `searching`, `completed`, item done); only names and items differ.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rowrelay.tasks.emulator.searches import Citation, FileSearch, Search, UrlCitation, excerpt
from rowrelay.tasks.emulator.timeline import Entry, EntryKind, Record

SEARCH_KINDS: frozenset[EntryKind] = frozenset(
    {"search_added", "search_in_progress", "search_searching", "search_completed", "search_done"}
)
SOURCES = "web_search_call.action.sources"
"""The `include` value that adds the pages a web search used to its action."""
RESULTS = "file_search_call.results"
"""The `include` value that adds the files a file search found (and what it read in them) to its item."""
_STATUS: dict[EntryKind, str] = {
    "search_added": "in_progress",
    "search_searching": "searching",
    "search_completed": "completed",
}
"""A search item's status from the event that moved it on."""


def _call(search: Search) -> str:
    """The type of a search's output item, which also names its events (`response.<type>.searching`)."""
    return "file_search_call" if isinstance(search, FileSearch) else "web_search_call"


def search_item_id(record: Record, index: int) -> str:
    """The id of the response's search number `index`: `ws_` (web) or `fs_` (file) + 48 hex, like the
    message's."""
    prefix = "fs_" if isinstance(record.plan.searches[index], FileSearch) else "ws_"
    return prefix + hashlib.blake2b(f"{record.id}|{index}".encode(), digest_size=24).hexdigest()


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
    """A `web_search_call` or `file_search_call` item. What a search found comes only when asked for,
    once the search is done."""
    search = record.plan.searches[index]
    item: dict[str, Any] = {"id": search_item_id(record, index), "type": _call(search), "status": status}
    done = status == "completed"
    if isinstance(search, FileSearch):
        found = _results(search) if done and RESULTS in include else None
        return {**item, "queries": [search.query], "results": found}
    # The action names its query in both of the spec's fields (`query` is deprecated for `queries`).
    action: dict[str, Any] = {"type": "search", "query": search.query, "queries": [search.query]}
    if SOURCES in include and done:
        action["sources"] = [{"type": "url", "url": search.url}]
    return {**item, "action": action}


def _results(search: FileSearch) -> list[dict[str, Any]]:
    """The one file a file search found, as `include: ["file_search_call.results"]` shows it."""
    text, score = excerpt(search)
    found = {"file_id": search.file_id, "filename": search.filename, "score": score, "text": text}
    return [{**found, "attributes": {}}]


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
    return {"type": f"response.{_call(record.plan.searches[index])}.{name}", **where}


def annotation(citation: Citation) -> dict[str, Any]:
    """A citation as the `output_text` part lists it: a page's spans its link, a file's marks one offset."""
    if isinstance(citation, UrlCitation):
        return {
            "type": "url_citation",
            "url": citation.url,
            "title": citation.title,
            "start_index": citation.start,
            "end_index": citation.end,
        }
    return {
        "type": "file_citation",
        "file_id": citation.file_id,
        "filename": citation.filename,
        "index": citation.index,
    }


def annotations_so_far(record: Record, seen: tuple[Entry, ...]) -> list[dict[str, Any]]:
    """The answer's annotations after the `seen` entries: one per `annotation_added` so far."""
    if not record.plan.citations:
        return []
    added = sum(1 for entry in seen if entry.kind == "annotation_added")
    return [annotation(citation) for citation in record.plan.citations[:added]]


def annotation_event(record: Record, entry: Entry, where: dict[str, Any]) -> dict[str, Any]:
    """`response.output_text.annotation.added` for citation number `entry.chunk`; `where` names the text
    (item_id, output_index, content_index)."""
    return {
        "type": "response.output_text.annotation.added",
        **where,
        "annotation_index": entry.chunk,
        "annotation": annotation(record.plan.citations[entry.chunk]),
    }
