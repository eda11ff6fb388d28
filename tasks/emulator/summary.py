"""Reasoning summaries: what a reasoning item's `summary` says, and the stream events that deliver it.

The text is drawn like the answer, from the seed and the request digest (so the same request always gets
the same summary), but with a salt of its own and outside the token counts: asking for a summary changes
neither the answer nor the usage. It reads like OpenAI's: a bold title, a blank line, plain sentences.
"""

from __future__ import annotations

from typing import Any

from rowrelay.tasks.emulator.reasoning import Summary
from rowrelay.tasks.emulator.words import WORDS, chunk, draws, split

_SENTENCES: dict[Summary, tuple[int, int]] = {"concise": (1, 1), "auto": (2, 2), "detailed": (3, 4)}
"""How many sentences each kind of summary has, at least and at most."""
_SENTENCE_WORDS = (6, 12)
"""A sentence's length in words, at least and at most."""
_TITLE_VERBS = ("Classifying", "Reviewing", "Weighing", "Checking", "Assessing", "Drafting", "Prioritising")
# The title's object: nouns of the word list, so the title reads as a heading about the ticket.
_TITLE_NOUNS = ("ticket", "order", "refund", "invoice", "account", "request", "issue", "payment", "report")
assert set(_TITLE_NOUNS) <= set(WORDS), "titles draw on the emulator's own word list"
# Enough draws for the longest summary: the title's two, the sentence count's one, and each sentence's
# length and words. The sentences are drawn in order, so a shorter summary of the same request is the
# start of a longer one (`concise` is the first sentence of `auto`), as one reasoning summarised less.
_DRAWS = 3 + _SENTENCES["detailed"][1] * (1 + _SENTENCE_WORDS[1])


def summary_text(seed: int, digest: bytes, kind: Summary) -> str:
    """The summary of one request's reasoning: `**Title**`, a blank line, then the kind's sentences."""
    drawn = draws(seed, digest, "summary", _DRAWS)
    verb, noun = _TITLE_VERBS[drawn[0] % len(_TITLE_VERBS)], _TITLE_NOUNS[drawn[1] % len(_TITLE_NOUNS)]
    fewest, most = _SENTENCES[kind]
    count = fewest + drawn[2] % (most - fewest + 1)
    shortest, longest = _SENTENCE_WORDS
    sentences: list[str] = []
    at = 3
    for _ in range(count):
        length = shortest + drawn[at] % (longest - shortest + 1)
        words = [WORDS[draw % len(WORDS)] for draw in drawn[at + 1 : at + 1 + length]]
        sentences.append(" ".join(words).capitalize() + ".")
        at += 1 + length
    return f"**{verb} the {noun}**\n\n" + " ".join(sentences)


def summary_chunks(seed: int, digest: bytes, kind: Summary | None, max_deltas: int) -> tuple[str, ...]:
    """The summary cut into the deltas that stream it, as the answer's text is cut (at most `max_deltas`);
    none when the model writes no summary."""
    if kind is None:
        return ()
    return chunk(split(summary_text(seed, digest, kind)), max_deltas)


def summary_parts(chunks: tuple[str, ...]) -> list[dict[str, Any]]:
    """A finished reasoning item's `summary`: one `summary_text` part, or none when no summary was asked."""
    return [_part("".join(chunks))] if chunks else []


def summary_event(kind: str, item_id: str, chunks: tuple[str, ...], index: int) -> dict[str, Any]:
    """A summary event without its `sequence_number`, in the spec's order: `summary_part_added`, a
    `summary_delta` per chunk (`index` picks it), `summary_text_done`, `summary_part_done`.

    There is one part (summary_index 0) of the reasoning item, which is always output 0. The done events
    carry the whole text: every delta comes before them."""
    where = {"item_id": item_id, "output_index": 0, "summary_index": 0}
    if kind == "summary_part_added":
        return {"type": "response.reasoning_summary_part.added", **where, "part": _part("")}
    if kind == "summary_delta":
        return {"type": "response.reasoning_summary_text.delta", **where, "delta": chunks[index]}
    text = "".join(chunks)
    if kind == "summary_text_done":
        return {"type": "response.reasoning_summary_text.done", **where, "text": text}
    assert kind == "summary_part_done", kind
    return {"type": "response.reasoning_summary_part.done", **where, "part": _part(text)}


def _part(text: str) -> dict[str, Any]:
    """A summary part (spec `SummaryTextContent`)."""
    return {"type": "summary_text", "text": text}
