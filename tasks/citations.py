"""What a row's answer cites: the sources behind a searched answer, as data rather than links in its text.

The Responses API lists an answer's citations beside its text, as annotations of its `output_text` parts:
a `url_citation` (a web page: `url`, `title`) for each link a web search answer writes, a `file_citation`
(`file_id`, `filename`) for each file a file search answer draws on. A row keeps each source once, in the
order its answer first cites it; where in the text each citation stands is left to the text itself,
whose links show it. (Annotations of files an answer made, `container_file_citation` and `file_path`,
are not sources and are not kept.)

The state table holds a row's citations as JSON text (`citations_text`), an array of objects with the
fields each source has; an output holds them as a list of structs, one field per name in
`CITATION_FIELDS`, the ones a source lacks null.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import orjson

__all__ = ["CITATION_FIELDS", "Citation", "citations_from_text", "citations_text", "distinct"]


class Citation(NamedTuple):
    """One cited source: a web page (`url`, `title`) or an uploaded file (`file_id`, `filename`)."""

    url: str | None = None
    title: str | None = None
    file_id: str | None = None
    filename: str | None = None


CITATION_FIELDS: tuple[str, ...] = Citation._fields
"""A citation's fields, in the order an output's struct lists them."""


def distinct(citations: Iterable[Citation]) -> tuple[Citation, ...]:
    """Each source once (by its address or file id), where it was first cited: an answer may cite one
    page after several of its paragraphs."""
    seen: dict[str | None, Citation] = {}
    for citation in citations:
        seen.setdefault(citation.url if citation.url is not None else citation.file_id, citation)
    return tuple(seen.values())


def citations_text(citations: Iterable[Citation]) -> str:
    """The JSON text the state table keeps: `[{"url": ..., "title": ...}, {"file_id": ..., ...}]`."""
    return orjson.dumps([{k: v for k, v in c._asdict().items() if v is not None} for c in citations]).decode()


def citations_from_text(text: str) -> list[dict[str, str | None]]:
    """The citations `citations_text` wrote, each with every field of `CITATION_FIELDS` (null when absent)."""
    return [{name: item.get(name) for name in CITATION_FIELDS} for item in orjson.loads(text)]
