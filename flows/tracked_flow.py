"""`run_batch` called from Python or a notebook records its runs where `rowrelay run` does.

With no Prefect API configured, Prefect starts an ephemeral server in each process that calls a flow: a
notebook's kernel waited about 24 s before its first batch began, the runs were gone with the kernel,
and none showed in the UI of the local server the CLI starts once and reuses (`local_prefect`). Called
directly, the flow now takes the CLI's choice: that local server, started if it is not running (its UI
address is said on stderr), or a server of its own with `ROWRELAY_PREFECT=ephemeral`. A configured API
(`PREFECT_API_URL`, a profile), a flow run under way (a subflow) and a deployment's worker, which runs
the flow without calling it, keep Prefect's own choice.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from prefect import Flow
from prefect.context import FlowRunContext

from rowrelay.flows.prefect_api import configured_api

__all__ = ["LocallyTracked", "flow"]

P = ParamSpec("P")
R = TypeVar("R")


class LocallyTracked(Flow[P, R]):
    """An async flow that, called where no Prefect API is configured, runs recorded in the local server."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if configured_api() is not None or FlowRunContext.get() is not None:
            return super().__call__(*args, **kwargs)
        return self._recorded_locally(args, kwargs)

    def with_options(self, **options: Any) -> LocallyTracked[P, R]:
        """Prefect's copy (a renamed nightly flow, other retries), tracked as this one is: Prefect builds
        the copy as a plain `Flow`, whose call would start an ephemeral server again."""
        copy = super().with_options(**options)
        copy.__class__ = LocallyTracked  # adds behaviour only, no state: the copy's fields all carry over
        return copy  # type: ignore[return-value]  # the class was just set

    async def _recorded_locally(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from rowrelay.flows.local_prefect import PrefectTracking
        from rowrelay.tasks.settings import load_settings

        # Off the loop: a server to start is spawned and waited for here (a notebook's loop keeps serving
        # its kernel meanwhile).
        tracking = await asyncio.to_thread(PrefectTracking.begin, load_settings())
        await asyncio.to_thread(tracking.ready)
        with tracking.applied(_said):
            return await Flow.__call__(self, *args, **kwargs)


def _said(message: str) -> None:
    """To stderr, as Prefect's own lines come: before the flow run starts no handler would show a log."""
    print(message, file=sys.stderr)


def flow(**options: Any) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], LocallyTracked[P, Any]]:
    """`prefect.flow` for an async flow, making a `LocallyTracked` one. Named as Prefect's decorator on
    purpose: loading a deployment's entrypoint without importing it, Prefect reads the flow's name from
    the arguments of a decorator called `flow`."""

    def tracked(fn: Callable[P, Coroutine[Any, Any, R]]) -> LocallyTracked[P, Any]:
        return LocallyTracked(fn, **options)

    return tracked
