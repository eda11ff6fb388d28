"""A runner process for the kill tests: `python -m tests.run.kill_worker URL STATE_DIR ROWS MODE [AGENT]`.

It plans ROWS rows into the state table (idempotent) and runs the batch to the end against the emulator
at URL; the test SIGKILLs it at random moments and starts it again until every row is done. With AGENT
(`module:function`), every row is run by that Agent Framework agent.

Each kill mid-create spends an attempt of every row it caught `submitting`, and a restart sends those rows
first, so one row can be caught by several kills in a row: the worker allows more attempts than the tests
make kills, so every row can complete and the tests can require it. (Running out of attempts is tested
on its own, in tests/state/test_orphans.py.)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from rowrelay.tasks.run import open_session
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable

MAX_ATTEMPTS = 8
"""Above the kills any test makes (at most 6), plus one for the create that completes."""


async def main(url: str, state_dir: Path, rows: int, mode: str, agent_spec: str | None = None) -> int:
    table = StateTable.open(
        state_dir,
        batch_id="kill-test",
        checkpoint_interval=0.05,
        lease_timeout=5.0,
        max_attempts=MAX_ATTEMPTS,
    )
    table.add_pending((f"row-{i:04d}", i, f"hash-{i}") for i in range(rows))
    settings = Settings(
        backend="emulator", base_url=url, model="gpt-4.1-mini", mode=mode, rpm=100_000,
        poll_rpm=100_000, max_in_flight=100, checkpoint_interval=0.05, max_attempts=MAX_ATTEMPTS,
    )  # fmt: skip
    agent = None
    if agent_spec is not None:
        from rowrelay.tasks.llm.agent_backend import load_agent_factory  # Agent Framework only when asked for

        agent = load_agent_factory(agent_spec)
    session = open_session(settings, table, lambda key: f"Summarise {key}.", agent=agent)
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    print(report.counts, flush=True)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    agent = args[4] if len(args) > 4 else None
    sys.exit(asyncio.run(main(args[0], Path(args[1]), int(args[2]), args[3], agent)))
