"""Context windows: how many input tokens each model takes, and OpenAI's 400 for an input longer than that.

The most common per-row 400 a batch meets is one row's document overflowing the model's window. The
input is counted as usage counts it (`prompt_tokens`), so a prompt the emulator would bill at the window
is accepted and one token more is refused. Only the input counts, not `max_output_tokens` as well: that is
what the Responses API's message says, and it keeps the rule predictable.
"""

from __future__ import annotations

from typing import Any

from rowrelay.tasks.emulator.refusals import BadRequest
from rowrelay.tasks.emulator.structured import Route
from rowrelay.tasks.emulator.token_counts import prompt_tokens

# By name prefix, lower-cased, first match wins; from OpenAI's model pages (a dated snapshot such as
# gpt-4o-2024-08-06 shares its family's window). Later family members with other windows (o1-mini's
# 128,000, gpt-5-chat-latest's 128,000) are not told apart: rowrelay's tests need a window per family.
# The deep research models (o3-deep-research, o4-mini-deep-research, their snapshots) have their family's.
_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
    ("gpt-5", 400_000),
)
DEFAULT_WINDOW = 128_000
"""Any other model's (gpt-4-turbo's, or a name a test makes up): the most common window of OpenAI's
current chat models, so an unknown name behaves like a mainstream model rather than an unlimited one."""


def context_window(model: str) -> int:
    """How many input tokens `model` takes."""
    name = model.lower()
    return next((window for prefix, window in _WINDOWS if name.startswith(prefix)), DEFAULT_WINDOW)


def check_context(body: dict[str, Any], route: Route) -> None:
    """Refuse a create whose input is longer than its model's window, in the route's words: the
    Responses API names neither number, Chat Completions both (and points at `messages`)."""
    window = context_window(str(body.get("model") or ""))
    tokens = prompt_tokens(body)
    if tokens <= window:
        return
    if route == "chat":
        raise BadRequest(
            f"This model's maximum context length is {window} tokens. However, your messages resulted "
            f"in {tokens} tokens. Please reduce the length of the messages.",
            "messages",
            "context_length_exceeded",
        )
    raise BadRequest(
        "Your input exceeds the context window of this model. Please adjust your input and try again.",
        "input",
        "context_length_exceeded",
    )
