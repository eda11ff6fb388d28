"""Reasoning models, effort and summaries: which models reason, which efforts each accepts, what an
effort costs, and when the model writes a summary of its reasoning.

Every decision about `reasoning.effort` (Responses), `reasoning_effort` (Chat Completions) and
`reasoning.summary` (Responses only) is made here, so the 400s, the echoed `reasoning`, the reasoning
tokens and the reasoning item's summary cannot disagree.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[Effort, ...] = get_args(Effort)
"""The spec's `ReasoningEffort` enum, in its order (the order the 400 lists them in)."""
O_SERIES_EFFORTS: tuple[Effort, ...] = ("low", "medium", "high")
"""All an o-series model (o1, o3, o4-mini, ...) accepts; gpt-5* accepts every effort."""
DEFAULT_EFFORT: Effort = "medium"
"""What a reasoning model uses, and reports, when asked for no effort (the spec's default)."""
Summary = Literal["auto", "concise", "detailed"]
SUMMARIES: tuple[Summary, ...] = get_args(Summary)
"""The `reasoning.summary` values the spec allows, in its order (the order the 400 lists them in)."""

# How many times today's reasoning draw (medium) each effort spends: `none` does not reason at all.
_SCALE: dict[Effort, float] = {
    "none": 0.0,
    "minimal": 0.25,
    "low": 0.5,
    "medium": 1.0,
    "high": 2.0,
    "xhigh": 3.0,
    "max": 4.0,
}

_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)", re.IGNORECASE)
_O_SERIES = re.compile(r"^o\d", re.IGNORECASE)


def is_reasoning_model(model: str) -> bool:
    """o-series and gpt-5* report reasoning tokens and emit a reasoning item first."""
    return bool(_REASONING_MODEL.match(model))


def allowed_efforts(model: str) -> tuple[Effort, ...]:
    """The efforts `model` accepts: none for a model that does not reason."""
    if not is_reasoning_model(model):
        return ()
    return O_SERIES_EFFORTS if _O_SERIES.match(model) else EFFORTS


def asked_effort(body: dict[str, Any]) -> Any:
    """The effort a create asks for, as sent: Chat Completions' top-level `reasoning_effort`, the
    Responses API's `reasoning.effort` (a body with `messages` is a chat completion, as elsewhere)."""
    if "messages" in body:
        return body.get("reasoning_effort")
    reasoning = body.get("reasoning")
    return reasoning.get("effort") if isinstance(reasoning, dict) else None


def effective_effort(model: str, asked: Any) -> Effort | None:
    """The effort the model works at (a checked request's): the one asked, the default if none was,
    and none at all for a model that does not reason."""
    if not is_reasoning_model(model):
        return None
    return asked if asked in EFFORTS else DEFAULT_EFFORT


def effort_scale(model: str, asked: Any) -> float:
    """The multiple of the medium-effort reasoning draw the model spends (0 for a non-reasoning model)."""
    effort = effective_effort(model, asked)
    return 0.0 if effort is None else _SCALE[effort]


def asked_summary(body: dict[str, Any]) -> Any:
    """The summary a create asks for, as sent: the Responses API's `reasoning.summary` (Chat Completions
    has no summaries: a chat completion asks for none)."""
    if "messages" in body:
        return None
    reasoning = body.get("reasoning")
    return reasoning.get("summary") if isinstance(reasoning, dict) else None


def written_summary(body: dict[str, Any]) -> Summary | None:
    """The summary the model writes for a checked create: the one asked, if the model reasons at all
    (a model that does not reason was refused one; at effort `none` there is no reasoning to summarise,
    though the response still echoes the summary asked)."""
    asked = asked_summary(body)
    if asked is None or effort_scale(str(body.get("model") or ""), asked_effort(body)) == 0:
        return None
    return next((summary for summary in SUMMARIES if summary == asked), None)


def echoed(body: dict[str, Any]) -> dict[str, Any]:
    """A response's `reasoning`: the effort the model worked at (not merely the one asked, as the service
    reports it) and the summary asked for."""
    effort = effective_effort(str(body.get("model") or ""), asked_effort(body))
    return {"effort": effort, "summary": asked_summary(body)}
