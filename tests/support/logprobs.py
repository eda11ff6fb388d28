"""Checks the logprobs tests share: a list of token logprobs (an `output_text` part's, a text event's, a
chat choice's or chunk's, as plain dicts) against the text it is of and the alternatives asked for."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from openai.lib._pydantic import to_strict_json_schema
from openai.types.responses import ResponseIncludable

from tests.support.structured import AllTypes

INCLUDE: ResponseIncludable = "message.output_text.logprobs"
"""The `include` value (and `include[]` query value) that shows an answer's logprobs."""
JSON_TEXT = {"format": {"type": "json_schema", "name": "triage", "schema": to_strict_json_schema(AllTypes)}}
"""A Responses `text` asking for a JSON answer, whose tokens are cut four characters a token."""


def check_logprobs(entries: Sequence[dict[str, Any]], text: str, top: int, *, with_bytes: bool = True) -> int:
    """The entries are `text`'s tokens, each with `top` alternatives, most likely first and each strictly
    less likely than the one before, the chosen token among them at its own logprob wherever it is the
    most likely, and a position's probabilities summing to at most 1. `with_bytes`: every token, listed
    ones too, carries its UTF-8 bytes (an `output_text` part's and Chat Completions' do, a text event's
    does not). Returns how many positions list the chosen token first."""
    assert "".join(entry["token"] for entry in entries) == text
    first = 0
    for entry in entries:
        token, logprob = entry["token"], entry["logprob"]
        assert token, "no empty token"
        assert isinstance(logprob, float), entry
        assert math.isfinite(logprob), entry
        assert logprob <= 0, entry
        listed = entry["top_logprobs"]
        assert len(listed) == top, "exactly as many alternatives as asked for"
        for item in [entry, *listed]:
            assert ("bytes" in item) is with_bytes, item
            if with_bytes:
                assert item["bytes"] == list(item["token"].encode())
        values = [item["logprob"] for item in listed]
        assert all(math.isfinite(value) and value <= 0 for value in values)
        assert all(a > b for a, b in itertools.pairwise(values)), "strictly decreasing"
        tokens = [item["token"] for item in listed]
        assert len(set(tokens)) == len(tokens), "each alternative once"
        position = {token: logprob, **dict(zip(tokens, values, strict=True))}
        assert math.fsum(math.exp(value) for value in position.values()) <= 1
        if token in tokens:
            assert values[tokens.index(token)] == logprob, "the chosen token at its own logprob"
        if tokens and tokens[0] == token:
            first += 1
        elif tokens:
            assert values[0] > logprob, "a token listed before the chosen one is more likely"
    return first


def joined(entries: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Lists of entries (a stream's deltas' or chunks') one after another."""
    return [entry for part in entries for entry in part]


def without_bytes(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries as a text event carries them: without the `bytes` an `output_text` part's have."""
    return [
        {
            "token": entry["token"],
            "logprob": entry["logprob"],
            "top_logprobs": [{"token": t["token"], "logprob": t["logprob"]} for t in entry["top_logprobs"]],
        }
        for entry in entries
    ]
