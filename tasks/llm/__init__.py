"""Talking to models: client factory, rate budget, backends and their calls. Knows nothing of the
state table: a backend takes a `RowRequest` and answers in `Snapshot`s and `StreamUpdate`s."""

from typing import TYPE_CHECKING

from rowrelay.tasks.lazy import exports

if TYPE_CHECKING:
    from rowrelay.tasks.llm.budget import RateBudget
    from rowrelay.tasks.llm.calls import (
        Backend,
        BackendRefusedError,
        BackgroundBackend,
        ForegroundBackend,
        MaybeSentError,
        NotSentError,
        NotTheApiError,
        RequestRejectedError,
        RowRequest,
        Snapshot,
        StreamCutError,
        StreamErrorEvent,
        StreamUnavailableError,
        StreamUpdate,
        in_background,
    )
    from rowrelay.tasks.llm.client import describe, make_backend
    from rowrelay.tasks.llm.estimates import OutputEstimate, estimate_tokens

__getattr__, __dir__ = exports(
    __name__,
    {
        "Backend": "calls",
        "BackendRefusedError": "calls",
        "BackgroundBackend": "calls",
        "ForegroundBackend": "calls",
        "MaybeSentError": "calls",
        "NotSentError": "calls",
        "NotTheApiError": "calls",
        "OutputEstimate": "estimates",
        "RateBudget": "budget",
        "RequestRejectedError": "calls",
        "RowRequest": "calls",
        "Snapshot": "calls",
        "StreamCutError": "calls",
        "StreamErrorEvent": "calls",
        "StreamUnavailableError": "calls",
        "StreamUpdate": "calls",
        "describe": "client",
        "estimate_tokens": "estimates",
        "in_background": "calls",
        "make_backend": "client",
    },
)

__all__ = [
    "Backend",
    "BackendRefusedError",
    "BackgroundBackend",
    "ForegroundBackend",
    "MaybeSentError",
    "NotSentError",
    "NotTheApiError",
    "OutputEstimate",
    "RateBudget",
    "RequestRejectedError",
    "RowRequest",
    "Snapshot",
    "StreamCutError",
    "StreamErrorEvent",
    "StreamUnavailableError",
    "StreamUpdate",
    "describe",
    "estimate_tokens",
    "in_background",
    "make_backend",
]
