"""Web searches: how many the fake model runs before it answers, what it searches for, and how its answer
cites the pages found.

A create with a web search tool (and a `tool_choice` other than `none`) is answered after K searches: 1 to
3 for an ordinary model, 3 to 8 for a deep research model, at most `max_tool_calls`. K and each query are
drawn from the seed and the request digest like the rest of the plan, so an identical create searches
alike. A query is a few words of the prompt; each search finds one page on a reserved domain
(example.com, RFC 2606).

The answer cites each page once, as the service writes its citations: a markdown link to the page in
parentheses, labelled with its host, after the stretch of text it supports
(`... words ([example.com](https://example.com/<slug>-<n>?utm_source=openai))`), and the page's
`url_citation` spans exactly that link, from its `(` to its `)` inclusive. The text is the one the answer
has without the tool with the links written in, the stretches sharing its words out one after another.
The links are output the model writes, so they count as output tokens like the rest of the text (each
estimated at four characters a token, as `model.estimate_tokens` does for text that is not drawn word by
word) and against `max_output_tokens`: usage stays a function of the text the caller sees. A structured
answer (a `json_schema` or `json_object` text format) writes no links and lists no citations: the service
keeps that JSON intact. The search results the service reads are billed by it as input tokens; the
emulator counts none of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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
_JSON_FORMATS = frozenset({"json_schema", "json_object"})
"""The `text.format` types whose answer is JSON, which a link written into it would break."""


@dataclass(frozen=True, slots=True)
class Search:
    """One web search: what was asked, and the page it found."""

    query: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class Citation:
    """A `url_citation` of the answer: the page, and where its link is written (`text[start:end]`)."""

    url: str
    title: str
    start: int
    end: int


def plan_searches(seed: int, digest: bytes, body: dict[str, Any], prompt: str) -> tuple[Search, ...]:
    """The searches run before the text answer to a create that may search (`searches_the_web`)."""
    fewest, most = _COUNTS[is_deep_research(str(body.get("model") or ""))]
    drawn = draws(seed, digest, "searches", 1 + most * 2)
    count = fewest + drawn[0] % (most - fewest + 1)
    limit = body.get("max_tool_calls")
    count = min(count, limit) if isinstance(limit, int) else count
    words = _WORD.findall(prompt[:_READ]) or list(WORDS)
    return tuple(_search(words, drawn[1 + 2 * i], drawn[2 + 2 * i], i) for i in range(count))


def writes_links(body: dict[str, Any]) -> bool:
    """Whether the answer is prose that cites its pages in its text: not JSON asked for by `text.format`.
    (The service's JSON answers after a search carry neither links nor annotations.)"""
    text = body.get("text")
    spec = text.get("format") if isinstance(text, dict) else None
    return not (isinstance(spec, dict) and spec.get("type") in _JSON_FORMATS)


def link(search: Search) -> str:
    """The link the answer cites `search`'s page with: `([host](url?utm_source=openai))`. The label is the
    page's host without `www.`, as the service labels a page of www.aljazeera.com `aljazeera.com`."""
    host = (urlsplit(search.url).hostname or "").removeprefix("www.")
    return f"([{host}]({search.url}{CITED}))"


def cite(text: str, searches: tuple[Search, ...]) -> tuple[str, tuple[Citation, ...]]:
    """`text` with each search's link written after its own stretch of the text (a space before it), and
    the citations spanning the links; an empty text cites nothing and stays empty."""
    pieces: list[str] = []
    citations: list[Citation] = []
    copied = 0  # how much of `text` is in `pieces` so far
    for search, end in zip(searches, _ends(text, len(searches)), strict=False):
        pieces += [text[copied:end], " "]
        copied = end
        start = sum(map(len, pieces))
        pieces.append(link(search))
        citations.append(Citation(search.url + CITED, search.title, start, start + len(pieces[-1])))
    pieces.append(text[copied:])
    return "".join(pieces), tuple(citations)


def _search(words: list[str], at: int, length: int, index: int) -> Search:
    """A query of a few consecutive words of the prompt, and the page it finds."""
    shortest, longest = _QUERY_WORDS
    size = min(len(words), shortest + length % (longest - shortest + 1))
    start = at % (len(words) - size + 1)
    picked = words[start : start + size]
    query = " ".join(picked)
    slug = "-".join(word.lower().replace("'", "") for word in picked)
    return Search(query, f"{_SITE}{slug}-{index + 1}", query[:1].upper() + query[1:])


def _ends(text: str, count: int) -> list[int]:
    """Where `count` stretches of `text`, one after another and each whole words, end (character offsets):
    the text's words shared out as evenly as they go, the same word ending two stretches when there are
    fewer words than stretches."""
    words = [match.end() for match in re.finditer(r"\S+", text)]
    total = len(words)
    if not total:
        return []
    ends = []
    for index in range(count):
        first = min(index * total // count, total - 1)
        last = max(first + 1, (index + 1) * total // count)
        ends.append(words[last - 1])
    return ends
