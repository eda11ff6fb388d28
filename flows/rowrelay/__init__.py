"""rowrelay: run long background LLM requests over every row of a dataset, checkpointed and resumable.

    from rowrelay import run_batch

    result = await run_batch("data/sample/tickets.csv", template="Triage: {subject}\\n{body}")

What this module exports is rowrelay's public API (pinned by tests/test_exported_members.py); everything
under `rowrelay.flows` and `rowrelay.tasks` may change between releases. Names load on first use, so
`import rowrelay` stays cheap and the emulator's own process (`python -m rowrelay.tasks.emulator`) never
imports Prefect, pandas or the SDK it does not need.

Prefect reads its settings when first imported, so the defaults it needs are set here, before any
module of rowrelay imports it: the ephemeral server migrates a fresh database at first start, which can
take longer than its 20 s default on a busy 2-core machine, and an offline machine should not try to
send telemetry. Anything already set in the environment wins.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

if TYPE_CHECKING:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.batch_result import BatchResult
    from rowrelay.flows.processing import progress_sink
    from rowrelay.flows.request import BatchRequest
    from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
    from rowrelay.tasks.errors import (
        BankUnreachableError,
        CorruptSegmentError,
        DamagedFileError,
        FailWhenFailedError,
        IllegalTransition,
        LeaseHeldError,
        MissingVersionsError,
        OutageError,
        OutputWriteError,
        RateLimitedError,
        ResponseGoneError,
        RowrelayError,
        SchedulerGoneError,
        StateError,
        TerminalError,
        TransientError,
        UsageError,
        WorkersGoneError,
    )
    from rowrelay.tasks.run import Progress
    from rowrelay.tasks.settings import Settings, load_settings
    from rowrelay.tasks.state import StateTable, latest_sql, load, read_table, summary
    from rowrelay.tasks.state.retrying import retry
    from rowrelay.tasks.state_folder_errors import StateAccessError

_HOMES = {
    "rowrelay.flows.batch": ["run_batch"],
    "rowrelay.flows.batch_result": ["BatchResult"],
    "rowrelay.flows.processing": ["progress_sink"],
    "rowrelay.flows.request": ["BatchRequest"],
    "rowrelay.tasks.emulator": ["EmulatorConfig", "LatencySpec", "RunningEmulator", "running_emulator"],
    "rowrelay.tasks.errors": [
        "BankUnreachableError",
        "CorruptSegmentError",
        "DamagedFileError",
        "FailWhenFailedError",
        "IllegalTransition",
        "LeaseHeldError",
        "MissingVersionsError",
        "OutageError",
        "OutputWriteError",
        "RateLimitedError",
        "ResponseGoneError",
        "RowrelayError",
        "SchedulerGoneError",
        "StateError",
        "TerminalError",
        "TransientError",
        "UsageError",
        "WorkersGoneError",
    ],
    "rowrelay.tasks.run": ["Progress"],
    "rowrelay.tasks.settings": ["Settings", "load_settings"],
    "rowrelay.tasks.state": ["StateTable", "latest_sql", "load", "read_table", "summary"],
    "rowrelay.tasks.state.retrying": ["retry"],
    "rowrelay.tasks.state_folder_errors": ["StateAccessError"],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
"""Where each public name is defined; tests/test_exported_members.py checks it against `__all__`."""

__all__ = [
    "BankUnreachableError",
    "BatchRequest",
    "BatchResult",
    "CorruptSegmentError",
    "DamagedFileError",
    "EmulatorConfig",
    "FailWhenFailedError",
    "IllegalTransition",
    "LatencySpec",
    "LeaseHeldError",
    "MissingVersionsError",
    "OutageError",
    "OutputWriteError",
    "Progress",
    "RateLimitedError",
    "ResponseGoneError",
    "RowrelayError",
    "RunningEmulator",
    "SchedulerGoneError",
    "Settings",
    "StateAccessError",
    "StateError",
    "StateTable",
    "TerminalError",
    "TransientError",
    "UsageError",
    "WorkersGoneError",
    "latest_sql",
    "load",
    "load_settings",
    "progress_sink",
    "read_table",
    "retry",
    "run_batch",
    "running_emulator",
    "summary",
]


def __getattr__(name: str) -> object:
    """Load a public name from the module that defines it, once (PEP 562)."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'rowrelay' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
