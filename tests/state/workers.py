"""Writers run in child processes by the multi-process and SIGKILL tests.

python -m tests.state.workers shard DIR WRITER START COUNT   # one shard, start to finish, then close
python -m tests.state.workers churn DIR ROWS SEED            # random legal changes + commits, forever
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.state import TRANSITIONS, StateTable

# The path a row takes in the churn worker; orphaned rows (after a kill) are resubmitted.
NEXT: dict[RowStatus, list[RowStatus]] = {
    status: sorted(allowed - {"pending"}) or ["completed"] for status, allowed in TRANSITIONS.items()
}


async def shard(directory: Path, writer: str, start: int, count: int) -> None:
    with StateTable.open(directory, batch_id="multi", writer=writer, checkpoint_interval=0.01) as table:
        keys = [f"row-{i:06d}" for i in range(start, start + count)]
        table.add_pending((key, start + n, f"h{n}") for n, key in enumerate(keys))
        for step in ("submitting", "queued", "completed"):
            for key in keys:
                fields = {"response_id": f"resp-{key}"} if step == "queued" else {}
                table.transition(key, step, **fields)
            await table.commit()


async def churn(directory: Path, n_rows: int, seed: int) -> None:
    rng = random.Random(seed)
    table = StateTable.open(directory, batch_id="churn", checkpoint_interval=0.005)
    table.add_pending((f"row-{i:04d}", i, f"h{i}") for i in range(n_rows))
    await table.commit()
    print("ready", flush=True)
    keys = [f"row-{i:04d}" for i in range(n_rows)]
    while True:
        for key in rng.sample(keys, 10):
            row = table.get(key)
            if row.status == "completed":
                continue
            status = rng.choice(NEXT[row.status])
            fields = {"response_id": f"resp-{rng.random()}"} if status in ("queued", "in_progress") else {}
            table.transition(key, status, **fields)
        await table.commit()


def main(argv: list[str]) -> None:
    mode, directory = argv[0], Path(argv[1])
    if mode == "shard":
        asyncio.run(shard(directory, argv[2], int(argv[3]), int(argv[4])))
    elif mode == "churn":
        asyncio.run(churn(directory, int(argv[2]), int(argv[3])))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
