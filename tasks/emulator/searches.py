"""Hosted searches: how many the fake model runs before it answers, what each looks through, asks and
finds, and how the answer cites what was found.

A create offering a web search or a file search tool (and a `tool_choice` other than `none`) is answered
after K searches: 1 to 3 for an ordinary model, 3 to 8 for a deep research model, at most `max_tool_calls`.
Offered both tools, the model draws each search's kind. K, the kinds and each query are drawn from the seed
and the request digest like the rest of the plan, so an identical create searches alike (and offering a
second tool changes which kind each search is, never how many there are or what they ask). A query is a
few words of the prompt. A web search finds one page on a reserved domain (example.com, RFC 2606). A file
search finds one file in one of its tool's vector stores (drawn); the emulator holds no files, so the
file's id (`file-` and 22 letters and digits, as the service's look) and name (`<slug>.pdf`) are derived
from the store and the query: the same question of the same store finds the same file.

The answer cites each search once, after its own stretch of the text, the stretches sharing the text's
words out one after another, as the service writes its citations:

- a page by a markdown link to it in parentheses, labelled with its host, written after the stretch
  (`... words ([example.com](https://example.com/<slug>-<n>?utm_source=openai))`); the page's
  `url_citation` spans exactly that link, from its `(` to its `)` inclusive;
- a file by a `file_citation` whose `index` is where the stretch ends. Nothing of it is in the text: the
  service strips the markers its model writes for files and keeps only that one offset.

The text is the one the answer has without the tools, with the links written in. The links are output the
model writes, so they count as output tokens like the rest of the text (each estimated at four characters
a token, as `token_counts.estimate_tokens` does for text that is not drawn word by word) and against
`max_output_tokens`; a file citation adds no text and so no tokens: usage stays a function of the text the
caller sees. A structured answer (a `json_schema` or `json_object` text format) cites nothing: the service
keeps that JSON intact. The search results the service reads are billed by it as input tokens; the
emulator counts none of them.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rowrelay.tasks.emulator.hosted_tools import SearchKind, is_deep_research, vector_stores
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
"""The `text.format` types whose answer is JSON, which a citation would break."""
_FILE_ID = (string.digits + string.ascii_letters, 22)
"""A file id's alphabet and length after `file-`, as the service's read (`file-2dtbBZdjtDKS8eqWxqbgDi`)."""
_EXCERPT_WORDS = 24
"""The words a file search reads from its file after the query's own (what `include` shows of it)."""


@dataclass(frozen=True, slots=True)
class WebSearch:
    """One web search: what was asked, and the page it found."""

    query: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class FileSearch:
    """One file search: what was asked, the vector store it looked in, and the file it found there."""

    query: str
    store: str
    file_id: str
    filename: str


Search = WebSearch | FileSearch


@dataclass(frozen=True, slots=True)
class UrlCitation:
    """A `url_citation` of the answer: the page, and where its link is written (`text[start:end]`)."""

    url: str
    title: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class FileCitation:
    """A `file_citation` of the answer: the file, and the offset in the text where what it supports ends."""

    file_id: str
    filename: str
    index: int


Citation = UrlCitation | FileCitation


def plan_searches(
    seed: int, digest: bytes, body: dict[str, Any], kinds: tuple[SearchKind, ...], prompt: str
) -> tuple[Search, ...]:
    """The searches run before the text answer to a create that may search `kinds` (`search_kinds`)."""
    fewest, most = _COUNTS[is_deep_research(str(body.get("model") or ""))]
    drawn = draws(seed, digest, "searches", 1 + most * 2)
    count = fewest + drawn[0] % (most - fewest + 1)
    limit = body.get("max_tool_calls")
    count = min(count, limit) if isinstance(limit, int) else count
    words = _WORD.findall(prompt[:_READ]) or list(WORDS)
    # The kinds and stores are drawn apart from the count and the queries, which stay as they were for
    # whatever tools are offered.
    picks = draws(seed, digest, "search kinds", 2 * count)
    stores = vector_stores(body) if "file" in kinds else ()
    searches: list[Search] = []
    for index in range(count):
        picked = _query_words(words, drawn[1 + 2 * index], drawn[2 + 2 * index])
        if kinds[picks[2 * index] % len(kinds)] == "web":
            searches.append(_page(picked, index))
        else:
            searches.append(_file(picked, stores[picks[2 * index + 1] % len(stores)]))
    return tuple(searches)


def cites(body: dict[str, Any]) -> bool:
    """Whether the answer is prose that cites what its searches found: not JSON asked for by `text.format`.
    (The service's JSON answers after a search carry neither links nor annotations.)"""
    text = body.get("text")
    spec = text.get("format") if isinstance(text, dict) else None
    return not (isinstance(spec, dict) and spec.get("type") in _JSON_FORMATS)


def link(search: WebSearch) -> str:
    """The link the answer cites `search`'s page with: `([host](url?utm_source=openai))`. The label is the
    page's host without `www.`, as the service labels a page of www.aljazeera.com `aljazeera.com`."""
    host = (urlsplit(search.url).hostname or "").removeprefix("www.")
    return f"([{host}]({search.url}{CITED}))"


def cite(text: str, searches: tuple[Search, ...]) -> tuple[str, tuple[Citation, ...]]:
    """`text` with each search cited at the end of its own stretch of the text: a page by its link written
    there (a space before it) and a citation spanning the link, a file by a citation at that offset alone.
    An empty text cites nothing and stays empty."""
    pieces: list[str] = []
    citations: list[Citation] = []
    copied = 0  # how much of `text` is in `pieces` so far
    for search, end in zip(searches, _ends(text, len(searches)), strict=False):
        pieces.append(text[copied:end])
        copied = end
        if isinstance(search, FileSearch):
            citations.append(FileCitation(search.file_id, search.filename, sum(map(len, pieces))))
            continue
        pieces.append(" ")
        start = sum(map(len, pieces))
        pieces.append(link(search))
        citations.append(UrlCitation(search.url + CITED, search.title, start, start + len(pieces[-1])))
    pieces.append(text[copied:])
    return "".join(pieces), tuple(citations)


def excerpt(search: FileSearch) -> tuple[str, float]:
    """What a file search read in its file, and the relevance score (0 to 1) the service gave it: drawn
    from the file id alone, so a file reads the same to every search that finds it. Only `include` shows
    them, so they are derived when shown rather than held in every plan."""
    drawn = draws(0, search.file_id.encode(), "excerpt", 1 + _EXCERPT_WORDS)
    text = " ".join([search.query, *(WORDS[number % len(WORDS)] for number in drawn[1:])])
    return text + ".", round(0.5 + drawn[0] / 2**17, 4)


def _query_words(words: list[str], at: int, length: int) -> list[str]:
    """A few consecutive words of the prompt: a query."""
    shortest, longest = _QUERY_WORDS
    size = min(len(words), shortest + length % (longest - shortest + 1))
    start = at % (len(words) - size + 1)
    return words[start : start + size]


def _slug(picked: list[str]) -> str:
    return "-".join(word.lower().replace("'", "") for word in picked)


def _page(picked: list[str], index: int) -> WebSearch:
    """The page search number `index` finds: one per search, on example.com."""
    query = " ".join(picked)
    return WebSearch(query, f"{_SITE}{_slug(picked)}-{index + 1}", query[:1].upper() + query[1:])


def _file(picked: list[str], store: str) -> FileSearch:
    """The file a search of `store` finds, named after the query and identified by the store and it."""
    query = " ".join(picked)
    alphabet, length = _FILE_ID
    key = hashlib.blake2b(f"{store}|{query}".encode(), digest_size=17).digest()  # 136 bits: 22 digits
    number, digits = int.from_bytes(key, "big"), []
    for _ in range(length):
        number, digit = divmod(number, len(alphabet))
        digits.append(alphabet[digit])
    return FileSearch(query, store, "file-" + "".join(digits), f"{_slug(picked)}.pdf")


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
