"""A batch run notes how it ended in its record (`run.json`), for a `rowrelay status` hours later.

`ends_recorded` wraps the flow's body: the record the run writes as it starts (`run_record.record_run`)
carries a `began` mark of this run's own (`began_here`), and whatever the body then ends in (a result, a
`Completed` or `Failed` state, a stop, an error) is noted once on that record (`state.run_end`). A body
that ends before it wrote its record (a refusal, a second run held off by the lease) notes nothing: the
record is the batch's last run's, not this one's. A run killed outright notes nothing either, which is how
`status` knows it (its lease is left, stale).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from rowrelay.tasks.errors import FailWhenFailedError, OutageError
from rowrelay.tasks.state.run_end import begin_mark, record_end
from rowrelay.tasks.state.run_record import RunEnding

__all__ = ["began_here", "ends_recorded"]

_CANCELLED = "Ctrl-C, SIGTERM or a cancel"
"""Why a run stopped whose body was cancelled: asyncio's runner cancels it on Ctrl-C, a SIGTERM landing in
the event loop is made a cancel (flows/termination.py), and so is a Prefect cancel or a notebook's
interrupt; which of them it was, the cancel does not say."""
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class _Run:
    """The run's own record, once written: its folder and the id of its `began` mark."""

    state_dir: Path | None = None
    run_id: str | None = None


_this_run: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("rowrelay_run_end", default=None)


def began_here(state_dir: Path) -> dict[str, Any]:
    """The `began` mark for the record this run writes at `state_dir`, remembered so its end is noted
    there (outside `ends_recorded`, a mark all the same, whose end no one notes)."""
    mark = begin_mark(time.time())
    if (run := _this_run.get()) is not None:
        run.state_dir, run.run_id = state_dir, mark["id"]
    return mark


def ends_recorded(body: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """`body`, which notes on the record it wrote how it ended (`_returned`, `_raised`)."""

    @functools.wraps(body)
    async def noted(*args: P.args, **kwargs: P.kwargs) -> T:
        run = _Run()
        token = _this_run.set(run)
        try:
            result = await body(*args, **kwargs)
        except BaseException as exc:
            _note(run, *_raised(exc))
            raise
        finally:
            _this_run.reset(token)
        _note(run, *_returned(result))
        return result

    return noted


def _note(run: _Run, how: RunEnding, why: str | None) -> None:
    if run.state_dir is not None and run.run_id is not None:
        record_end(run.state_dir, run.run_id, how, why, time.time())


def _returned(result: Any) -> tuple[RunEnding, str | None]:
    """How a body that returned ended: its `BatchResult`, or the Prefect state carrying it (`Completed`
    with the rows that did not complete, `Failed` past --fail-when-failed: `outcome.final_state`)."""
    message = getattr(result, "message", None)
    data = getattr(result, "data", result)
    if isinstance(data, FailWhenFailedError):
        return "failed", str(data)
    stopped = getattr(data, "stopped", None)
    if isinstance(stopped, str):
        return "capped", stopped
    return "completed", message if isinstance(message, str) and message else None


def _raised(exc: BaseException) -> tuple[RunEnding, str | None]:
    """How a body that raised `exc` ended: stopped (Ctrl-C, SIGTERM, a cancel), an outage, an error."""
    from prefect.exceptions import TerminationSignal

    if isinstance(exc, KeyboardInterrupt):
        return "stopped", "Ctrl-C"
    if isinstance(exc, TerminationSignal):
        return "stopped", "SIGTERM"
    if isinstance(exc, asyncio.CancelledError):  # Ctrl-C and SIGTERM mostly reach the run as a cancel
        return "stopped", _CANCELLED
    if isinstance(exc, OutageError):
        return "outage", str(exc).splitlines()[0] if str(exc) else None
    first = str(exc).splitlines()[0] if str(exc) else "no detail"
    return "error", f"{type(exc).__name__}: {first}"
