"""Talking to models: client factory, rate budget, background calls and the per-shard runner."""

from rowrelay.tasks.llm.budget import OutputEstimate, RateBudget
from rowrelay.tasks.llm.calls import Backend, BackendRefusedError, RowRequest, Snapshot
from rowrelay.tasks.llm.client import describe, make_backend
from rowrelay.tasks.llm.row import RowDriver, RowPolicy, RunCounters
from rowrelay.tasks.llm.runner import BatchRunner, Progress, RunReport, cancel_in_flight

__all__ = [
    "Backend",
    "BackendRefusedError",
    "BatchRunner",
    "OutputEstimate",
    "Progress",
    "RateBudget",
    "RowDriver",
    "RowPolicy",
    "RowRequest",
    "RunCounters",
    "RunReport",
    "Snapshot",
    "cancel_in_flight",
    "describe",
    "make_backend",
]
