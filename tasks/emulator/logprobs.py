"""Token log probabilities: the tokens the fake model's answer is made of, and how sure it was of each.

The service returns them when asked: on the Responses API, a create or a GET whose `include` has
`message.output_text.logprobs` shows every `output_text` part's tokens, each with the create's
`top_logprobs` (0 to 20) most likely tokens at its position; on Chat Completions, `logprobs: true` does,
in `choices[0].logprobs`. A reasoning model takes no `top_logprobs` (validation.py refuses it) and shows
none: asked only through `include`, its parts keep `"logprobs": []`.

Nothing is stored. The logprobs are a function of the plan, derived when shown, so a poll, a stream, a
resumed stream and a later GET show the same numbers, and 100,000 held responses carry no token lists.

Tokens are cut as the answer's usage counts them (answers.py): a drawn word is one token with its leading
space; text not drawn word by word (a structured answer's JSON, a refusal, the sentence an answer after
a tool round opens with, each cited page's link with the space before it) is cut every four characters.
Every delta starts and ends on a token boundary, so a delta's tokens join to its text: a four-character
cut next to a delta boundary gives way to it, which keeps the count. What holds: the tokens join to the
text, and there are as many as the usage counts for it (output tokens less reasoning tokens), unless a
stretch cut by characters holds more delta boundaries than tokens, which the emulator's texts never do.

Values are drawn from the seed, the answer's text and the position: an identical create gets identical
logprobs, the same text gets the same numbers on both APIs, and nothing needs the request digest again
(hashing a megabyte input at every event shown). Most tokens are near-certain (a logprob near 0), some
are not; the chosen token is the most likely at its position, except now and then where the model was
unsure; the alternatives are words of the emulator's vocabulary, strictly less likely one after another,
and a position's probabilities sum to less than 1.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Sequence
from typing import Any

from rowrelay.tasks.emulator.answers import answer_format
from rowrelay.tasks.emulator.model import Plan
from rowrelay.tasks.emulator.reasoning import is_reasoning_model
from rowrelay.tasks.emulator.searches import UrlCitation
from rowrelay.tasks.emulator.token_counts import CHARS_PER_TOKEN
from rowrelay.tasks.emulator.tools import mention, tool_outputs
from rowrelay.tasks.emulator.words import WORDS, draws

INCLUDE = "message.output_text.logprobs"
"""The Responses API's `include` value that shows the logprobs (the spec's `IncludeEnum`)."""
MOST_LIKELY = 20
"""The most alternatives a position can list (`top_logprobs` is at most 20)."""

_VOCABULARY = tuple(dict.fromkeys(WORDS))  # the alternatives: each word once
_PIECE = re.compile(r"\s*\S+")  # a drawn word with its leading space, as words.split cuts text
_STRIDE = 4 + 2 * MOST_LIKELY  # draws a position takes: 4 for its token, 2 for each rank (share, word)
_CONFIDENT = 0.85  # the share of positions where the model was near-certain
_UNSURE_PICK = 0.3  # of the unsure positions, the share where it wrote its second most likely token


def asked_top(body: dict[str, Any]) -> int:
    """How many alternatives each position lists: the create's `top_logprobs` (checked), else 0."""
    top = body.get("top_logprobs")
    return top if isinstance(top, int) else 0


def response_logprobs(
    plan: Plan, body: dict[str, Any], include: frozenset[str], start: int, end: int, *, event: bool = False
) -> list[dict[str, Any]]:
    """The logprobs of the answer's tokens in `text[start:end]` (a delta, or the text so far), or none
    unless `include` asks for them of a model that gives them. An `output_text` part's entries carry
    their UTF-8 `bytes` (the spec's `LogProb`); a text delta or done event's do not (`ResponseLogProb`)."""
    if INCLUDE not in include or is_reasoning_model(str(body.get("model") or "")):
        return []
    return text_logprobs(plan, body, start, end, with_bytes=not event)


def delta_logprobs(
    plan: Plan, body: dict[str, Any], include: frozenset[str], chunk: int
) -> list[dict[str, Any]]:
    """The logprobs a text delta (`plan.chunks[chunk]`) carries: none unless `include` asks. Where the
    delta starts is summed only then: a stream without them is most of what the emulator writes."""
    if INCLUDE not in include:
        return []
    start = sum(map(len, plan.chunks[:chunk]))
    return response_logprobs(plan, body, include, start, start + len(plan.chunks[chunk]), event=True)


def choice_logprobs(plan: Plan, body: dict[str, Any], start: int, end: int) -> dict[str, Any] | None:
    """A chat choice's (or chunk's) `logprobs` for `text[start:end]` of its answer: null unless the create
    asked with `logprobs: true`; else a refusal's tokens under `refusal`, the content's under `content`,
    and null for what the choice has none of (a function call has neither)."""
    if body.get("logprobs") is not True:
        return None
    tokens = None if plan.call is not None else text_logprobs(plan, body, start, end, with_bytes=True)
    return {"content": None, "refusal": tokens} if plan.refusal else {"content": tokens, "refusal": None}


def text_logprobs(
    plan: Plan, body: dict[str, Any], start: int, end: int, *, with_bytes: bool
) -> list[dict[str, Any]]:
    """The entries of the answer's tokens in `text[start:end]`; both offsets are token boundaries."""
    tokens = answer_tokens(plan, body)
    ends = list(itertools.accumulate(map(len, tokens)))
    first, last = bisect.bisect_right(ends, start), bisect.bisect_right(ends, end)
    if first >= last:
        return []
    drawn = draws(plan.seed, plan.text.encode(), "logprobs", last * _STRIDE)
    top = asked_top(body)
    entries = []
    for index in range(first, last):
        position = drawn[index * _STRIDE : (index + 1) * _STRIDE]
        entries.append(_entry(tokens[index], position, top, with_bytes))
    return entries


def answer_tokens(plan: Plan, body: dict[str, Any]) -> list[str]:
    """The answer's text cut into its tokens, as its usage counts them (see the module's docstring)."""
    text = plan.text
    if not text:
        return []
    # A delta starts and ends on a token boundary: between two words (a plan's chunks are whole pieces of
    # its text, words.chunk), or inside a stretch cut by characters, where `_character_cuts` cuts there.
    bounds = list(itertools.accumulate(map(len, plan.chunks)))
    cuts: set[int] = set()
    done = 0
    for start, end in _counted_by_characters(plan, body):
        cuts.update(match.start() for match in _PIECE.finditer(text, done, start))
        cuts.update((start, end), _character_cuts(start, end, bounds))
        done = end
    cuts.update(match.start() for match in _PIECE.finditer(text, done))
    edges = sorted(cut for cut in cuts if 0 < cut < len(text))
    return [text[a:b] for a, b in zip([0, *edges], [*edges, len(text)], strict=True)]


def _counted_by_characters(plan: Plan, body: dict[str, Any]) -> list[tuple[int, int]]:
    """The stretches of the text its usage counts four characters a token, in order, as `model._answer`
    and `model.plan_response` count them: all of a refusal or a structured answer; else the sentence on
    the tool outputs it opens with and each cited page's link, with the space written before it."""
    text = plan.text
    if plan.refusal or answer_format(body) is not None:
        return [(0, len(text))]
    outputs = tool_outputs(body.get("input"))
    opening = mention(outputs) if outputs else ""
    spans = [(0, len(opening))] if opening and text.startswith(opening) else []
    return spans + [(c.start - 1, c.end) for c in plan.citations if isinstance(c, UrlCitation)]


def _character_cuts(start: int, end: int, bounds: Sequence[int]) -> set[int]:
    """Cuts inside `text[start:end]`: every four characters and at each delta boundary, where a boundary
    takes the place of the nearest four-character cut, so that the stretch keeps its token count."""
    regular = set(range(start + CHARS_PER_TOKEN, end, CHARS_PER_TOKEN))
    forced = {bound for bound in bounds if start < bound < end}
    spare = sorted(regular - forced)
    for bound in sorted(forced - regular):
        if spare:
            nearest = min(spare, key=lambda cut: abs(cut - bound))
            spare.remove(nearest)
            regular.discard(nearest)
    return regular | forced


def _entry(token: str, drawn: Sequence[int], top: int, with_bytes: bool) -> dict[str, Any]:
    """One token's entry: its logprob and its position's `top` most likely tokens, most likely first."""
    logprobs, rank = _ranked(drawn, top)
    others = iter(_alternatives(token, drawn[4 + MOST_LIKELY :], top))
    listed = [(token if index == rank else next(others), logprobs[index]) for index in range(top)]
    entry = _token(token, logprobs[rank], with_bytes)
    entry["top_logprobs"] = [_token(other, logprob, with_bytes) for other, logprob in listed]
    return entry


def _token(token: str, logprob: float, with_bytes: bool) -> dict[str, Any]:
    if with_bytes:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}
    return {"token": token, "logprob": logprob}


def _unit(draw: int) -> float:
    """A 16-bit draw as a number in the open interval (0, 1)."""
    return (draw + 0.5) / 65536.0


def _ranked(drawn: Sequence[int], top: int) -> tuple[list[float], int]:
    """The logprobs of a position's most likely tokens (at least as many as `top`, and the chosen one's),
    most likely first, and the chosen token's rank among them: 0, or 1 where the model was unsure and
    wrote its second most likely token. Each is less likely than the one before, and their probabilities
    sum to less than 1 (the rest is every other token's)."""
    if _unit(drawn[0]) < _CONFIDENT:
        chosen = -(1e-6 + 0.05 * _unit(drawn[1]) ** 4)  # most of them very near 0
    else:
        chosen = -(0.1 + 2.9 * _unit(drawn[1]))
    likely = math.exp(chosen)
    if likely < 0.45 and _unit(drawn[2]) < _UNSURE_PICK:
        first = likely + (1 - 2 * likely) * 0.5 * _unit(drawn[3])  # more likely, and the two sum below 1
        logprobs, rank, rest = [math.log(first), chosen], 1, 1 - first - likely
    else:
        logprobs, rank, rest = [chosen], 0, -math.expm1(chosen)
    previous = math.exp(logprobs[-1])
    budget = 0.9 * rest  # what the listed alternatives share; a tenth is left to the unlisted ones
    for index in range(len(logprobs), top):
        # A share of what is left, and less than the token before: strictly decreasing, never zero.
        previous = min(budget * (0.5 + 0.4 * _unit(drawn[4 + index])), previous * 0.9)
        budget -= previous
        logprobs.append(math.log(previous))
    return logprobs, rank


def _alternatives(token: str, picks: Sequence[int], count: int) -> list[str]:
    """`count` other tokens a position might have had: distinct vocabulary words, spaced and capitalised
    like `token`, none equal to it."""
    lead = token[: len(token) - len(token.lstrip())]
    capital = token.lstrip()[:1].isupper()
    taken = {token}
    others: list[str] = []
    for pick in picks[:count]:
        index = pick % len(_VOCABULARY)
        while True:
            word = _VOCABULARY[index]
            other = lead + (word.capitalize() if capital else word)
            if other not in taken:
                break
            index = (index + 1) % len(_VOCABULARY)
        taken.add(other)
        others.append(other)
    return others
