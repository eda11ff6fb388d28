"""Checks the file search tests share: the tool they send, a searched answer's search items of either kind
(web and file) and its citations of either kind, a file's written nowhere in the text."""

from __future__ import annotations

import re

from openai.types.responses import (
    FileSearchToolParam,
    Response,
    ResponseFileSearchToolCall,
    ResponseFunctionWebSearch,
    ResponseIncludable,
    ResponseReasoningItem,
)
from openai.types.responses.response_function_web_search import ActionSearch
from openai.types.responses.response_output_text import AnnotationFileCitation, AnnotationURLCitation

from tests.support.web_search import LINK, SEARCH_ID, text_part

FILE_SEARCH: FileSearchToolParam = {"type": "file_search", "vector_store_ids": ["vs_123"]}
RESULTS: ResponseIncludable = "file_search_call.results"
FILE_SEARCH_ID = re.compile(r"fs_[0-9a-f]{48}")
FILE_ID = re.compile(r"file-[0-9A-Za-z]{22}")
"""A file id as the service's look: `file-2dtbBZdjtDKS8eqWxqbgDi`."""
Call = ResponseFunctionWebSearch | ResponseFileSearchToolCall
Note = AnnotationURLCitation | AnnotationFileCitation


def search_calls(response: Response) -> list[Call]:
    """The search items of either kind, checked to come after any reasoning item and before the one
    message, each typed by the SDK (not an unknown item), completed, with its one query, its id unique."""
    kinds = [item.type for item in response.output]
    reasoning = kinds.count("reasoning")
    assert reasoning <= 1
    assert all(isinstance(item, ResponseReasoningItem) for item in response.output[:reasoning])
    assert kinds[-1:] == ["message"]
    calls = [item for item in response.output[reasoning:-1] if isinstance(item, Call)]
    assert len(calls) == len(kinds) - reasoning - 1, "every search is typed as the SDK's own item"
    for call in calls:
        assert call.status == "completed"
        assert len(queries_of(call)) == 1
        if isinstance(call, ResponseFileSearchToolCall):
            assert FILE_SEARCH_ID.fullmatch(call.id), call.id
        else:
            assert SEARCH_ID.fullmatch(call.id), call.id
    assert len({call.id for call in calls}) == len(calls)
    return calls


def queries_of(call: Call) -> list[str]:
    if isinstance(call, ResponseFileSearchToolCall):
        return call.queries
    assert isinstance(call.action, ActionSearch)
    return call.action.queries or []


def file_searches_of(response: Response) -> list[ResponseFileSearchToolCall]:
    """The search items, every one of them a file search."""
    calls = search_calls(response)
    files = [call for call in calls if isinstance(call, ResponseFileSearchToolCall)]
    assert files == calls, "files only: no web search"
    return files


def check_cited(response: Response, prompt: str) -> list[Note]:
    """One citation per search, in order, of the search's kind. A page's link is written into the text
    after the stretch of words it supports, the `url_citation` spanning it; a file's citation marks where
    its stretch ends, at the end of a word, and nothing of it is in the text. The stretches follow one
    another through the text, each with words of its own (the answers checked have words enough), the last
    closing it. Each query is words of the prompt; a file found is named after its query."""
    calls = search_calls(response)
    part = text_part(response)
    notes = [note for note in part.annotations if isinstance(note, Note)]
    assert len(notes) == len(part.annotations) == len(calls)
    words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9'-]*", prompt))
    end = 0  # where the text cited so far ends
    for call, note in zip(calls, notes, strict=True):
        (query,) = queries_of(call)
        assert set(query.split()) <= words, query
        if isinstance(call, ResponseFileSearchToolCall):
            assert isinstance(note, AnnotationFileCitation), "a file search is cited by its file"
            assert FILE_ID.fullmatch(note.file_id), note.file_id
            assert note.filename == "-".join(query.lower().replace("'", "").split()) + ".pdf"
            assert end < note.index <= len(part.text), "after words of its own, past the text cited before"
            assert not part.text[note.index - 1].isspace(), "at the end of a word"
            assert part.text[note.index : note.index + 1] in ("", " "), "at the end of a word"
            end = note.index
        else:
            assert isinstance(note, AnnotationURLCitation), "a web search is cited by its page"
            assert end < note.start_index - 1 < note.end_index <= len(part.text)
            assert part.text[note.start_index - 1 : note.end_index] == f" ([example.com]({note.url}))"
            end = note.end_index
    assert not notes or end == len(part.text), "the last citation closes the text"
    pages = [note for note in notes if isinstance(note, AnnotationURLCitation)]
    assert len(LINK.findall(part.text)) == len(pages), "a link for each page, none for a file"
    return notes


def check_file_citations(response: Response, prompt: str) -> list[AnnotationFileCitation]:
    """`check_cited` for an answer that searched files only."""
    file_searches_of(response)
    notes = check_cited(response, prompt)
    return [note for note in notes if isinstance(note, AnnotationFileCitation)]
