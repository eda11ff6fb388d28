"""How sure the model was of each row's answer: the log probability of every token it wrote, and of the
likeliest alternatives at each position (`--logprobs N`).

The APIs give them beside the text (the Responses API on each `output_text` part when asked with
`include: ["message.output_text.logprobs"]` and `top_logprobs`; Chat Completions on the choice with
`logprobs: true`), token by token. A row keeps them as `TokenLogprob`s: the token, its log probability
and the `top` alternatives, likeliest first, each a token and its log probability (the byte values the
APIs add are the token's own UTF-8, so they are not kept). What the answer as a whole was given is their
sum (`answer_logprob`): the log of the probability of the whole text, whose exponential a classification
batch reads as each row's confidence in its label.

The state table keeps a row's tokens as JSON text (`logprobs_text`): `[[token, logprob, [[alternative,
logprob], ...]], ...]`, lists rather than objects, as an answer has hundreds of tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

__all__ = ["TokenLogprob", "answer_logprob", "logprobs_from_text", "logprobs_text"]


class TokenLogprob(NamedTuple):
    """One token of an answer: the token, its log probability, and the likeliest tokens at its place."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


def answer_logprob(logprobs: Iterable[float]) -> float:
    """The log probability of the whole answer: the sum of its tokens' (`math.fsum`: exactly rounded
    over the hundreds of small terms an answer has)."""
    return math.fsum(logprobs)


def logprobs_text(tokens: Iterable[TokenLogprob]) -> str:
    """The JSON text the state table keeps."""
    return orjson.dumps([[t.token, t.logprob, [list(other) for other in t.top]] for t in tokens]).decode()


def logprobs_from_text(text: str) -> list[dict[str, Any]]:
    """The tokens `logprobs_text` wrote, as an output's structs: `token`, `logprob`, `top_logprobs` (each
    alternative's `token` and `logprob`)."""
    return [
        {
            "token": token,
            "logprob": logprob,
            "top_logprobs": [{"token": other, "logprob": value} for other, value in top],
        }
        for token, logprob, top in orjson.loads(text)
    ]
