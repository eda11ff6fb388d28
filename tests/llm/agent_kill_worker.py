"""The kill test's runner process, with rows run by an Agent Framework agent.

python -m tests.llm.agent_kill_worker URL STATE_DIR ROWS MODE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tasks.llm.agent_backend import load_agent_factory
from tasks.llm.session import open_session
from tasks.settings import Settings
from tasks.state import StateTable


async def main(url: str, state_dir: Path, rows: int, mode: str) -> int:
    table = StateTable.open(state_dir, batch_id="kill-test", checkpoint_interval=0.05, lease_timeout=5.0)
    table.add_pending((f"row-{i:04d}", i, f"hash-{i}") for i in range(rows))
    settings = Settings(
        backend="emulator", base_url=url, model="gpt-4.1-mini", mode=mode, rpm=100_000,  # type: ignore[arg-type]
        poll_rpm=100_000, max_in_flight=100, checkpoint_interval=0.05,
    )  # fmt: skip
    agent = load_agent_factory("tests.llm.agent_factories:make_agent")
    session = open_session(settings, table, lambda key: f"Summarise {key}.", agent=agent)
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    print(report.counts, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])))
