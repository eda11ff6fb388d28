"""Agents whose one tool is a plain (non-async) function that blocks: a tool Agent Framework runs in a
thread, which nothing can interrupt, still running when the run is stopped.

`BlockingTool` is for a test's own process (a `threading.Event` releases it); `make_agent` for the
`rowrelay` command in a process of its own, by `--agent tests.support.blocking_tools:make_agent`: each
call writes `started-<n>` in the folder `TOOLS_DIR` names and waits for a file `release` there.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any

from agent_framework import Agent
from agent_framework.openai import OpenAIChatClient

TOOLS_DIR = "ROWRELAY_TEST_BLOCKING_TOOLS"
"""The environment variable naming the folder of `make_agent`'s markers."""
TOOL = "lookup_order"
_calls = itertools.count()


class BlockingTool:
    """An agent factory whose agent's sync tool waits for `release`; `started` counts the calls that
    began (`entered` set by the first), `returned` those whose function returned."""

    def __init__(self) -> None:
        self.release, self.entered = threading.Event(), threading.Event()
        self.started = self.returned = 0

    def factory(self, client: OpenAIChatClient) -> Agent[Any]:
        def lookup_order(order: str) -> str:
            """Look an order up in the shop's system."""
            self.started += 1
            self.entered.set()
            self.release.wait()
            self.returned += 1
            return f"order {order} was shipped on Monday"

        return Agent(client=client, name="shop", instructions="Answer from the shop.", tools=[lookup_order])


def make_agent(client: OpenAIChatClient) -> Agent[Any]:
    """The `--agent` factory: its tool blocks until the file `release` is in the `TOOLS_DIR` folder."""
    folder = Path(os.environ[TOOLS_DIR])

    def lookup_order(order: str) -> str:
        """Look an order up in the shop's system."""
        (folder / f"started-{os.getpid()}-{next(_calls)}").touch()
        while not (folder / "release").exists():
            time.sleep(0.05)  # a tool waiting on something outside: no clock asserted on
        return f"order {order} was shipped on Monday"

    return Agent(client=client, name="shop", instructions="Answer from the shop.", tools=[lookup_order])
