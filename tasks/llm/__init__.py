"""Talking to models: client factory, rate budget, backends and their calls. Knows nothing of the
state table: a backend takes a `RowRequest` and answers in `Snapshot`s and `StreamUpdate`s."""

from rowrelay.tasks.llm.budget import OutputEstimate, RateBudget, estimate_tokens
from rowrelay.tasks.llm.calls import (
    Backend,
    BackendRefusedError,
    BackgroundBackend,
    ForegroundBackend,
    MaybeSentError,
    RequestRejectedError,
    RowRequest,
    Snapshot,
    StreamErrorEvent,
    StreamUnavailableError,
    StreamUpdate,
    in_background,
)
from rowrelay.tasks.llm.client import describe, make_backend

__all__ = [
    "Backend",
    "BackendRefusedError",
    "BackgroundBackend",
    "ForegroundBackend",
    "MaybeSentError",
    "OutputEstimate",
    "RateBudget",
    "RequestRejectedError",
    "RowRequest",
    "Snapshot",
    "StreamErrorEvent",
    "StreamUnavailableError",
    "StreamUpdate",
    "describe",
    "estimate_tokens",
    "in_background",
    "make_backend",
]
