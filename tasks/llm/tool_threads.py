"""An agent's plain (non-async) tools, each call on a daemon thread of the backend's own, which a stopped
run waits for, saying so, and a second Ctrl-C leaves.

Agent Framework runs a sync tool with `asyncio.to_thread`, on the loop's default executor. A thread
cannot be interrupted: a run stopped (Ctrl-C, SIGTERM, `rowrelay cancel`) while such a tool ran unwound,
then sat silent in the loop's shutdown (`shutdown_default_executor`) until the tool returned, and the
interpreter's exit joins those threads again; the user saw nothing and took the run for hung. A second
Ctrl-C ended in a uvloop traceback, and the process still waited for the thread to end.

So `ToolThreads.threaded` gives the backend a copy of the agent whose sync tools are async functions that
run the tool's function on a daemon thread, tracked until that function returns. AF sees an async tool
(it awaits it on the loop, its invocation counts and errors kept as they were); cancelled, the call
lets go of the thread, which runs on. `settled` (the backend's `aclose`) waits for the threads still
running, saying once how many and which tools, and that a second Ctrl-C leaves them: a daemon thread
keeps no process alive. The row of a call left (or waited for) is not moved on: its follow-up was never
sent, it keeps the id of the response that asked, which it has paid for, and the next run runs the tools
again and counts that response when the row moves on.

At most `THREADS_AT_ONCE` calls run at once on a loop, across its backends, as the default executor held
`to_thread` to: a burst of tool calls from thousands of rows in flight would otherwise start a thread
each, thousands at once against the user's database or API. A call takes a slot before its thread
starts and gives it back when its function returns (a call left by a stopped run keeps it until then);
a call cancelled while it waits for one starts no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import inspect
import logging
import os
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from agent_framework import Agent, FunctionTool

__all__ = ["THREADS_AT_ONCE", "ToolThreads"]

log = logging.getLogger("rowrelay.backend")
AgentT = TypeVar("AgentT", bound=Agent[Any])
THREADS_AT_ONCE = min(32, (os.cpu_count() or 1) + 4)
"""Sync tool calls running at once on one loop: the default executor's size, which bounded them when AF
ran them with `asyncio.to_thread` (`concurrent.futures.ThreadPoolExecutor`'s default max_workers)."""
_slots_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
"""Per loop, as its default executor was: shared by every backend on it, gone with it."""


class ToolThreads:
    """The sync tool calls of one backend's agent, by the future each one's thread settles."""

    def __init__(self) -> None:
        self._running: dict[asyncio.Future[Any], str] = {}
        """Tool name by call: each call's function still running in its thread."""

    def threaded(self, agent: AgentT) -> AgentT:
        """`agent`, or when it has sync function tools, a copy of it whose copies of them run each call
        on a daemon thread of ours (the caller's agent and tools are left as they were)."""
        tools = agent.default_options.get("tools") or []
        wrapped = [self._threaded(tool) if _runs_in_a_thread(tool) else tool for tool in tools]
        if all(new is old for new, old in zip(wrapped, tools, strict=True)):
            return agent
        copied = copy.copy(agent)  # AF's agents hold their settings as attributes: shallow is whole
        copied.default_options = {**agent.default_options, "tools": wrapped}
        return copied

    def running(self) -> list[str]:
        """The tools whose calls still run in their threads, one name per call."""
        return list(self._running.values())

    async def settled(self) -> None:
        """Wait for every tool call still running in its thread, saying so once (a stopped run)."""
        running = dict(self._running)
        if not running:
            return
        names = ", ".join(
            name if count == 1 else f"{name} x{count}" for name, count in Counter(running.values()).items()
        )
        calls = f"{len(running)} tool call{'s' if len(running) != 1 else ''}"
        log.warning(
            "waiting for %s still running in threads (%s): Python cannot interrupt a tool's thread; a "
            "second Ctrl-C leaves them, and their rows run the tools again on the next run",
            calls,
            names,
        )
        await asyncio.wait(list(running))

    def _threaded(self, tool: FunctionTool) -> FunctionTool:
        function = tool.func
        assert function is not None  # `_runs_in_a_thread` said so
        threads = self

        async def in_a_thread(*args: Any, **kwargs: Any) -> Any:
            result = await threads._run(tool.name, lambda: function(*args, **kwargs))
            return await result if inspect.isawaitable(result) else result

        copied = copy.copy(tool)
        copied.func = in_a_thread  # AF read the schema from the function as it built the tool: kept
        return copied

    async def _run(self, name: str, call: Callable[[], Any]) -> Any:
        """`call()` on a daemon thread, in a copy of this context (as `asyncio.to_thread` runs it), once
        one of the loop's `THREADS_AT_ONCE` slots is free. Cancelled, the caller lets go; the thread runs
        on, its slot held, and `settled` waits for it."""
        loop = asyncio.get_running_loop()
        slots = _slots_of(loop)
        await slots.acquire()  # cancelled while waiting: no thread started, no slot held
        outcome: asyncio.Future[Any] = loop.create_future()
        self._running[outcome] = name
        outcome.add_done_callback(self._ended)
        outcome.add_done_callback(lambda _: slots.release())  # the function returned: its thread ends
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=_settle_from_thread, args=(loop, outcome, context, call), name=f"tool {name}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as exc:  # no thread to be had: the call fails, its slot given back
            outcome.set_exception(exc)
        return await asyncio.shield(outcome)

    def _ended(self, outcome: asyncio.Future[Any]) -> None:
        self._running.pop(outcome, None)
        if not outcome.cancelled():
            outcome.exception()  # a left call's error is its caller's no more: not "never retrieved"


def _slots_of(loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
    slots = _slots_by_loop.get(loop)
    if slots is None:
        _slots_by_loop[loop] = slots = asyncio.Semaphore(THREADS_AT_ONCE)
    return slots


def _runs_in_a_thread(tool: object) -> bool:
    """Whether AF would run this tool's calls with `asyncio.to_thread` (`FunctionTool._invoke_function`)."""
    if not isinstance(tool, FunctionTool) or tool.func is None or isinstance(tool.func, FunctionTool):
        return False
    on_loop = getattr(tool, "_invoke_sync_on_event_loop", False)
    return not on_loop and not inspect.iscoroutinefunction(tool.func)


def _settle_from_thread(
    loop: asyncio.AbstractEventLoop,
    outcome: asyncio.Future[Any],
    context: contextvars.Context,
    call: Callable[[], Any],
) -> None:
    try:
        result = context.run(call)
    except BaseException as exc:  # the tool's: handed to its caller, as `to_thread` hands it
        settle = _setter(outcome, None, exc)
    else:
        settle = _setter(outcome, result, None)
    with contextlib.suppress(RuntimeError):  # the loop is closed: the run left this call (a second Ctrl-C)
        loop.call_soon_threadsafe(settle)


def _setter(outcome: asyncio.Future[Any], result: Any, error: BaseException | None) -> Callable[[], None]:
    def settle() -> None:
        if outcome.done():
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)

    return settle
