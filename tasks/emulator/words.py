"""The fake model's vocabulary: the words it writes answers and reasoning summaries with, drawn from the
seed and the request digest, and how a text is cut into the deltas that stream it.

A module of its own so that the answer (answers.py) and the reasoning summary (summary.py) draw from one
word list without importing each other.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct

# Plain English words, so outputs read like text in a demo and tokenize as one token each.
WORDS = """
    the customer reports that order delivery was late and asks for a refund while the team reviews
    account billing details priority is high because the issue blocks login for several users we
    recommend escalating to support engineering with the logs attached next steps include confirming
    the plan resetting credentials and replying within one business day summary of the ticket
    category sentiment neutral positive negative urgent routine product feature request bug report
    question about invoice shipping address payment failed subscription renewal cancelled
""".split()


def draws(seed: int, digest: bytes, salt: str, count: int) -> tuple[int, ...]:
    """`count` 16-bit numbers derived only from the arguments. A longer draw begins with a shorter one's
    numbers (SHAKE's output is a stream), so asking for more never changes what came first."""
    raw = hashlib.shake_256(digest + f"|{seed}|{salt}".encode()).digest(2 * count)
    # Big-endian 16-bit draws, unpacked at once (two-thirds of a plan's time went to slicing them out).
    return struct.unpack(f">{count}H", raw)


def answer_words(seed: int, digest: bytes, count: int) -> list[str]:
    """The `count` words of a text answer, the first capitalised, each after its leading space."""
    if count == 0:
        return []
    picks = [WORDS[draw % len(WORDS)] for draw in draws(seed, digest, "words", count)]
    picks[0] = picks[0].capitalize()
    return [picks[0], *(" " + word for word in picks[1:])]


def split(text: str) -> list[str]:
    """Text cut into word-sized pieces (each keeps its leading whitespace) for `chunk`."""
    return re.findall(r"\s*\S+", text) or [text]


def chunk(words: list[str], max_deltas: int) -> tuple[str, ...]:
    """Word pieces joined into at most `max_deltas` deltas of about equal size."""
    if not words:
        return ()
    size = math.ceil(len(words) / max_deltas)
    return tuple("".join(words[i : i + size]) for i in range(0, len(words), size))
