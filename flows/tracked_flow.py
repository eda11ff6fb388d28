"""`run_batch` called from Python or a notebook records its runs where `rowrelay run` does.

With no Prefect API configured, Prefect starts an ephemeral server in each process that calls a flow: a
notebook's kernel waited about 24 s before its first batch began, the runs were gone with the kernel,
and none showed in the UI of the local server the CLI starts once and reuses (`local_prefect`). Called
directly, the flow now takes the CLI's choice: that local server, started if it is not running (its UI
address is said on stderr), or a server of its own with `ROWRELAY_PREFECT=ephemeral`. A configured API
(`PREFECT_API_URL`, a profile), a flow run under way (a subflow) and a deployment's worker, which runs
the flow without calling it, keep Prefect's own choice.

A call is checked (`check`) before any of that: a flow run stores its parameters as given, so a call
refused for what it holds (a base URL with credentials, an endpoint's key) was recorded by the very run
that refused it, in the server's database and its error log. The check runs off the loop (it may read a
big input: a notebook's loop keeps serving its kernel) and may return a context the flow run is called
in, to hand what it read to the run (the batch flow's input, read once).

A DataFrame given as a parameter is recorded as a description (`<DataFrame: 3,000 rows x 4 columns>`),
never its contents: Prefect stored a text-only frame whole, every row readable in its database and UI,
and refused one over 512 KB (`422 Flow run parameters must be less than 524,288 bytes`). The flow
itself still gets the frame, in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import sys
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

from prefect import Flow
from prefect.context import FlowRunContext, SyncClientContext

from rowrelay.flows.prefect_api import configured_api
from rowrelay.flows.stop_said import said_when_stopped
from rowrelay.tasks.records import rows

__all__ = ["LocallyTracked", "flow"]

P = ParamSpec("P")
R = TypeVar("R")
Check = Callable[[dict[str, Any]], AbstractContextManager[object] | None]
"""Refuses a call by raising, given its arguments by name; else may return a context to call the flow run
in (what the check read, handed to the run)."""
_PREFECT_KEYWORDS = ("return_state", "wait_for")
"""The keyword arguments Prefect's call takes for itself, beside the flow's own."""


class LocallyTracked(Flow[P, R]):
    """An async flow that, called where no Prefect API is configured, runs recorded in the local server.

    `check`, given the call's arguments by name (defaults filled in), raises for a call that must not
    run, before any flow run exists or any server starts; the context it may return holds the flow
    run's call."""

    def __init__(self, fn: Callable[P, R], *, check: Check | None = None, **options: Any) -> None:
        super().__init__(fn, **options)
        self.check = check

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # A stopped call says what the stop did, in a line (flows/stop_said.py), not a traceback.
        return said_when_stopped(functools.partial(self._checked, args, kwargs))

    async def _checked(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        arguments = self._arguments(args, kwargs)
        checked = None if self.check is None else await asyncio.to_thread(self.check, arguments)
        with checked or contextlib.nullcontext():
            if FlowRunContext.get() is not None:  # a subflow: its parent's run set up the clients
                return await Flow.__call__(self, *args, **kwargs)
            if configured_api() is not None:
                return await self._on_one_sync_client(args, kwargs)
            return await self._recorded_locally(args, kwargs)

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by name, defaults filled in. A call that binds to no parameters (an unknown
        or missing one) is a `TypeError` in one line, as any function's: Prefect's own refusal printed its
        whole signature, forty-odd parameters, around the one mistyped name."""
        given = {name: value for name, value in kwargs.items() if name not in _PREFECT_KEYWORDS}
        try:
            bound = inspect.signature(self.fn).bind(*args, **given)
        except TypeError as exc:
            raise TypeError(f"{self.fn.__name__}(): {exc}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """What Prefect stores of a call's parameters (the flow run's record, the UI): a DataFrame only
        described. Prefect's own encoding copied a frame of text whole into its database, and one over
        512 KB was refused by its API, so the run could not start; the flow is called with the frame
        itself, not with this record."""
        return super().serialize_parameters({name: _described(value) for name, value in parameters.items()})

    def with_options(self, **options: Any) -> LocallyTracked[P, R]:
        """Prefect's copy (a renamed nightly flow, other retries), tracked and checked as this one is:
        Prefect builds the copy as a plain `Flow`, whose call would start an ephemeral server again."""
        copy = super().with_options(**options)
        copy.__class__ = LocallyTracked  # adds behaviour only: the copy's fields all carry over, but...
        copy.check = self.check  # type: ignore[attr-defined]  # ...this one, which Prefect does not know
        return copy  # type: ignore[return-value]  # the class was just set

    async def _recorded_locally(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from rowrelay.flows.local_prefect import PrefectTracking
        from rowrelay.tasks.settings import load_settings

        # Off the loop: a server to start is spawned and waited for here (a notebook's loop keeps serving
        # its kernel meanwhile).
        tracking = await asyncio.to_thread(PrefectTracking.begin, load_settings())
        await asyncio.to_thread(tracking.ready)
        with tracking.applied(_said):
            return await self._on_one_sync_client(args, kwargs)

    async def _on_one_sync_client(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The flow run, with one sync Prefect client for all of it, set up before Prefect's engine
        starts. Without it, the engine made a client of its own to ask the server for its default result
        storage, loading the CA bundle again (16 ms of CPU before the first create) and leaving the
        connection for the garbage collector; the flow's task runs took another (flows/batch.py).

        An error that stops the run (a bad option, a refused key, a damaged table) reaches the caller
        raised, in one line; Prefect's console records of it (the task's and the flow run's failures, two
        tracebacks, about a hundred lines in a notebook cell over `rpm=-1`) are left to the flow run's
        logs on the server."""
        from rowrelay.flows.cli_errors import told_once
        from rowrelay.tasks.steps import RUN_STOPPERS

        with SyncClientContext.get_or_create(), told_once(*RUN_STOPPERS):
            return await Flow.__call__(self, *args, **kwargs)


def _described(value: Any) -> Any:
    """A DataFrame as a line that says its shape (`<DataFrame: 3,000 rows x 4 columns>`); a NumPy number
    as Python's (a notebook's `limit=frame["n"].max()`, which Prefect cannot encode: it recorded
    '<int64>'); any other value as it is. Without importing pandas or NumPy: neither kind of value
    exists unless its module was imported."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic) and isinstance(value.item(), int | float):
        return value.item()
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(value, pandas.DataFrame):
        return value
    count, columns = value.shape
    return f"<DataFrame: {rows(count)} x {columns:,} column{'' if columns == 1 else 's'}>"


def _said(message: str) -> None:
    """To stderr, as Prefect's own lines come: before the flow run starts no handler would show a log."""
    print(message, file=sys.stderr)


def flow(
    *, check: Check | None = None, **options: Any
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], LocallyTracked[P, Any]]:
    """`prefect.flow` for an async flow, making a `LocallyTracked` one, whose calls `check` refuses
    before a run is made. Named as Prefect's decorator on purpose: loading a deployment's entrypoint
    without importing it, Prefect reads the flow's name from the arguments of a decorator called `flow`
    (and passes over those it does not know)."""

    def tracked(fn: Callable[P, Coroutine[Any, Any, R]]) -> LocallyTracked[P, Any]:
        return LocallyTracked(fn, check=check, **options)

    return tracked
