"""Web searches: how many the fake model runs before it answers, what it searches for, and what its answer
cites.

A create with a web search tool (and a `tool_choice` other than `none`) is answered after K searches: 1 to
3 for an ordinary model, 3 to 8 for a deep research model, at most `max_tool_calls`. K and each query are
drawn from the seed and the request digest like the rest of the plan, so an identical create searches
alike. A query is a few words of the prompt; each search finds one page on a reserved domain
(example.com, RFC 2606), and the answer cites each page once, over its own stretch of the text.

Searching changes nothing else: the answer's text is the one it would be without the tool, and the token
counts (usage, the TPM charge) do not count searches or citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rowrelay.tasks.emulator.hosted_tools import is_deep_research
from rowrelay.tasks.emulator.words import WORDS, draws

_COUNTS = {False: (1, 3), True: (3, 8)}
"""The fewest and the most searches, for an ordinary model and for a deep research one."""
_QUERY_WORDS = (3, 5)
"""A query's length in words, at least and at most."""
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_READ = 4_000
"""The characters at the prompt's start that queries are taken from: words enough, at any prompt size."""
_SITE = "https://example.com/"
CITED = "?utm_source=openai"
"""What the service appends to the address of a page its answer cites (not to the search's sources)."""


@dataclass(frozen=True, slots=True)
class Search:
    """One web search: what was asked, and the page it found."""

    query: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class Citation:
    """A `url_citation` of the answer: the page, and the stretch of text it supports (`text[start:end]`)."""

    url: str
    title: str
    start: int
    end: int


def plan_searches(
    seed: int, digest: bytes, body: dict[str, Any], prompt: str, text: str
) -> tuple[tuple[Search, ...], tuple[Citation, ...]]:
    """The searches a text answer to a create that may search (`searches_the_web`) runs first, and its
    citations of their pages (none of an empty text)."""
    fewest, most = _COUNTS[is_deep_research(str(body.get("model") or ""))]
    drawn = draws(seed, digest, "searches", 1 + most * 2)
    count = fewest + drawn[0] % (most - fewest + 1)
    limit = body.get("max_tool_calls")
    count = min(count, limit) if isinstance(limit, int) else count
    words = _WORD.findall(prompt[:_READ]) or list(WORDS)
    searches = tuple(_search(words, drawn[1 + 2 * i], drawn[2 + 2 * i], i) for i in range(count))
    spans = _spans(text, count)
    citations = tuple(
        Citation(search.url + CITED, search.title, start, end)
        for search, (start, end) in zip(searches, spans, strict=False)
    )
    return searches, citations


def _search(words: list[str], at: int, length: int, index: int) -> Search:
    """A query of a few consecutive words of the prompt, and the page it finds."""
    shortest, longest = _QUERY_WORDS
    size = min(len(words), shortest + length % (longest - shortest + 1))
    start = at % (len(words) - size + 1)
    picked = words[start : start + size]
    query = " ".join(picked)
    slug = "-".join(word.lower().replace("'", "") for word in picked)
    return Search(query, f"{_SITE}{slug}-{index + 1}", query[:1].upper() + query[1:])


def _spans(text: str, count: int) -> list[tuple[int, int]]:
    """`count` stretches of `text` (character offsets), one after another, each whole words: the text's
    words shared out as evenly as they go, and the same word cited again when there are fewer words."""
    words = [match.span() for match in re.finditer(r"\S+", text)]
    total = len(words)
    if not total:
        return []
    spans = []
    for index in range(count):
        first = min(index * total // count, total - 1)
        last = max(first + 1, (index + 1) * total // count)
        spans.append((words[first][0], words[last - 1][1]))
    return spans
