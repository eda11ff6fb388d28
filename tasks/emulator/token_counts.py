"""Token counts: how many tokens a request's text comes to, and how many of a prompt the prompt cache
reports as hits.

A module apart from the fake model's plan (model.py) because more than the plan counts with it: the usage
a response reports, the TPM bucket's charge (service.py) and the context window (context.py) all take the
prompt's count from `prompt_tokens`, so the three cannot disagree, and the token log probabilities
(logprobs.py) cut text by the same four characters a token. None of them needs the plan to count.
"""

from __future__ import annotations

import math
from typing import Any

from rowrelay.tasks.emulator.content_parts import media_tokens


def text_of_input(value: Any) -> str:
    """Flatten a Responses `input` (string or item array) or chat `messages` into plain text. What has
    no text (an image or file part) adds nothing, not even a separating newline."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(text for text in map(text_of_input, value) if text)
    if isinstance(value, dict):
        for key in ("text", "content", "input_text", "output"):
            if key in value:
                return text_of_input(value[key])
    return ""


CHARS_PER_TOKEN = 4
"""OpenAI's rule of thumb, for text the emulator does not draw word by word (a drawn word is one token)."""


def estimate_tokens(text: str) -> int:
    """About four characters a token, as OpenAI's rule of thumb says; at least one."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def prompt_tokens(body: dict[str, Any]) -> int:
    """A create's input tokens: its instructions and input (or chat messages), estimated, plus its images
    and files as OpenAI bills them (content_parts.py). One count for the usage reported, the TPM bucket's
    charge and the context window, so they cannot disagree."""
    prompt = text_of_input(body.get("instructions")) + text_of_input(body.get("input", body.get("messages")))
    return estimate_tokens(prompt) + media_tokens(body)


CACHE_MINIMUM = 1024
"""Prompts shorter than this many tokens are never cached (OpenAI's prompt caching guide)."""
CACHE_STEP = 128
"""Cache hits come in whole steps of this many tokens past the minimum (the same guide)."""


def cached_tokens(input_tokens: int, share: float) -> int:
    """How many of a prompt's tokens the emulator reports as cache hits: `share` of it, rounded down to
    a whole number of 128-token steps, and none below 1,024 tokens. Deterministic: a function of the
    prompt's size alone, so a rerun reports the same usage."""
    if input_tokens < CACHE_MINIMUM:
        return 0
    return int(input_tokens * share) // CACHE_STEP * CACHE_STEP
