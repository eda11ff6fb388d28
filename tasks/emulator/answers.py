"""The answer the fake model writes: a function call's arguments, JSON in the asked format, a refusal or
drawn words, cut to the tokens the create's ceiling leaves, and what they cost.

Apart from the plan (model.py), which decides how a response ends and how many tokens its reasoning and
its answer may spend: here that budget becomes text, and the text is counted back as usage counts it (a
drawn word one token, anything else four characters a token), so usage never passes `max_output_tokens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from rowrelay.tasks.emulator.config import EmulatorConfig
from rowrelay.tasks.emulator.structured import JsonFormat, Mangle, answer, json_format
from rowrelay.tasks.emulator.token_counts import CHARS_PER_TOKEN, estimate_tokens
from rowrelay.tasks.emulator.tools import ToolCall, function_to_call, mention, plan_call, tool_outputs
from rowrelay.tasks.emulator.words import answer_words, chunk, split

REFUSAL = "I'm sorry, but I can't help with that request."


def write_answer(
    config: EmulatorConfig,
    body: dict[str, Any],
    digest: bytes,
    visible: int,
    wanted: int,
    kind: Mangle | Literal["refusal"] | None,
    room: int | None,
) -> tuple[ToolCall | None, tuple[str, ...], int, bool]:
    """A function call or the text's chunks, the visible tokens they cost, and whether the ceiling cut
    them shorter than planned.

    A refusal is written whole unless it costs more than `room`. Otherwise `visible < wanted` means the
    answer is cut short (incomplete): a call keeps that share of its argument deltas, a text that many
    words. Whatever is kept then costs at most `room` tokens (None: no ceiling): arguments, JSON and an
    opening are counted by their characters, not by `wanted`, and may need cutting further."""
    if kind == "refusal":
        words = split(REFUSAL)
        written = _fit(words, room)
        visible = estimate_tokens("".join(written)) if written else 0
        return None, chunk(list(written), config.max_deltas), visible, _cut(words, written)
    tool = function_to_call(body)
    if tool is not None:
        call = plan_call(tool, config.seed, digest, config.max_deltas)
        kept = call.chunks if visible >= wanted else call.chunks[: len(call.chunks) * visible // wanted]
        fitted = _fit(kept, room)
        call = ToolCall(call.name, fitted)
        return call, (), estimate_tokens(call.arguments) if fitted else 0, _cut(kept, fitted)
    fmt = answer_format(body)
    if fmt is not None:
        text = answer(fmt, config.seed, digest, kind)
        pieces = chunk(split(text), config.max_deltas)
        kept = pieces if visible >= wanted else pieces[: max(1, len(pieces) * visible // wanted)]
        fitted = _fit(kept, room)
        return None, fitted, estimate_tokens("".join(fitted)) if fitted else 0, _cut(kept, fitted)
    words = answer_words(config.seed, digest, visible)
    outputs = tool_outputs(body.get("input"))
    cut = False
    if outputs and words:
        opening = mention(outputs)
        cost = estimate_tokens(opening)
        if room is not None and visible + cost > room:  # the opening is written first: fewer words
            words, cut = words[: max(0, room - cost)], True
            visible = len(words)  # a drawn word is one token
        if words:
            words = [opening + words[0], *words[1:]]
            visible += cost
    return None, chunk(words, config.max_deltas), visible, cut


def _fit(pieces: Sequence[str], room: int | None) -> tuple[str, ...]:
    """`pieces` cut to their text's first `room` tokens, four characters a token: the pieces wholly inside,
    then the start of the one the ceiling falls in (the same pieces when there is no ceiling or they fit)."""
    if room is None or estimate_tokens("".join(pieces)) <= room:
        return tuple(pieces)
    left, kept = room * CHARS_PER_TOKEN, []
    for piece in pieces:
        if left <= 0:
            break
        kept.append(piece[:left])
        left -= len(piece)
    return tuple(kept)


def _cut(kept: Sequence[str], fitted: Sequence[str]) -> bool:
    """Whether `_fit` cut any of the text."""
    return sum(map(len, fitted)) < sum(map(len, kept))


def answer_format(body: dict[str, Any]) -> JsonFormat | None:
    """The JSON format a text answer is written in, if any (checked at the door already): such an answer
    is counted four characters a token, not word by word."""
    return json_format(body, "chat" if "messages" in body else "responses")
