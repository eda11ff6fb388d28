"""bench_scale's measured steps, each run in a fresh process so its peak RSS (VmHWM) is its own:

    python -m tests.benchmarks._scale_children read|plan|crash|resume|files|replan ARGS

Imports happen before the clock starts; every child prints one JSON line. The input is sample-like:
data/sample/tickets.csv tiled to N rows with fresh ids and a per-row reference in the body, so every
prompt differs and prompts are as long as the demo's (about 330 characters with the template).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas  # noqa: F401  (pyarrow imports it lazily on first use: keep imports out of the timing)
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.dataset as ds

from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.run import RowPolicy, plan_batch, send_order
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.checkpoint import COMPACT_SEGMENTS
from tests.benchmarks._state_table import peak_rss_mb

ROOT = Path(__file__).resolve().parents[2]
SPEC = InputSpec(
    template="Triage this support ticket. Reply with category, priority (P1-P4) and a one-line summary.\n\n"
    "Subject: {subject}\n\n{body}",
    id_column="ticket_id",
)
POLICY = RowPolicy(batch_id="scale", model="gpt-4o-mini")
WRITERS = 5
"""Writers (shards) that each crashed with a full set of segments: WRITERS x COMPACT_SEGMENTS files."""
BLOCK = 500
"""Rows a group commit starts (fewer on a small table); each commit also moves the two blocks before it
on, and completes the one started LAG commits earlier."""
LAG = 10
"""Commits between a block's create and its completion: what keeps rows in flight."""


def write_input(path: Path, rows: int) -> None:
    """The sample tickets tiled to `rows` rows, ids T-0000000…, each body ending with its own reference."""
    columns = ("ticket_id", "created_at", "customer_tier", "channel", "subject", "body")
    sample = pv.read_csv(
        ROOT / "data" / "sample" / "tickets.csv",
        parse_options=pv.ParseOptions(newlines_in_values=True),
        convert_options=pv.ConvertOptions(column_types=dict.fromkeys(columns, pa.string())),
    )
    tiled = sample.take(np.arange(rows) % sample.num_rows)
    numbers = pa.array(np.arange(rows)).cast(pa.string())
    join = "binary_join_element_wise"
    ids = pc.call_function(join, ["T-", pc.utf8_lpad(numbers, 7, "0"), ""])
    body = pc.call_function(join, [tiled.column("body"), " (ref ", numbers, ")", ""])
    tiled = tiled.set_column(0, "ticket_id", ids).set_column(
        tiled.schema.get_field_index("body"), "body", body
    )
    pv.write_csv(tiled, path)


def read(path: Path) -> dict[str, Any]:
    """The reference: reading the input as the pipeline does (pandas.read_csv, every column as text)."""
    start = time.perf_counter()
    frame = read_input(path)
    return {"rows": len(frame), "seconds": time.perf_counter() - start}


def plan(path: Path, directory: Path) -> dict[str, Any]:
    """What a first run does before its first send: read, prepare, open, plan, then close (compaction)."""
    start = time.perf_counter()
    prepared = prepare(read_input(path), SPEC)
    prepared_s = time.perf_counter() - start
    table = StateTable.open(directory, batch_id="scale")
    batch = plan_batch(table, prepared, POLICY, shard_size=1000)
    planned_s = time.perf_counter() - start
    table.close()
    return {
        "rows": len(prepared),
        "to_send": batch.to_send,
        "prepare_s": prepared_s,
        "plan_s": planned_s - prepared_s,
        "close_s": time.perf_counter() - start - planned_s,
        "seconds": time.perf_counter() - start,
    }


def crash(directory: Path) -> dict[str, Any]:
    """Leave the planned table as crashed writers do: WRITERS shards, each with COMPACT_SEGMENTS group
    commits of rows moving pending -> submitting -> queued -> in_progress -> completed, then gone (no
    close: nothing compacted)."""
    start = time.perf_counter()
    pending = StateTable.open(directory).keys_with_status(["pending"])  # leaves the main lease behind
    shard = len(pending) // WRITERS
    block = min(BLOCK, shard // (COMPACT_SEGMENTS + 1))  # smaller tables (--quick): every commit has rows
    for number in range(WRITERS):
        keys = pending[number * shard : (number + 1) * shard]
        table = StateTable.open(directory, writer=f"shard-{number}", checkpoint_interval=3600)
        for commit in range(COMPACT_SEGMENTS):
            _commit(table, keys, commit, block)
            table.flush()
        # Its lease stays held (this process is alive) until the process ends, so the next shard does
        # not recover this one's rows: the resume finds every shard's in-flight rows as they were left.
    return {
        "segments": len(list((directory / "segments").glob("*.parquet"))),
        "seconds": time.perf_counter() - start,
    }


def _commit(table: StateTable, keys: list[str], commit: int, block: int) -> None:
    def rows(number: int) -> list[str]:
        return keys[number * block : (number + 1) * block] if number >= 0 else []

    for key in rows(commit - LAG):
        table.transition(key, "completed", output_text=f"Category: billing. Priority: P3. {key}",
                         input_tokens=120, output_tokens=40, reasoning_tokens=0)  # fmt: skip
    for key in rows(commit - 2):
        table.transition(key, "in_progress")
    for key in rows(commit - 1):
        table.transition(key, "queued", response_id=f"resp_{key}")
    for key in rows(commit):
        table.transition(key, "submitting", attempts=1)


def resume(directory: Path, scratch: Path) -> dict[str, Any]:
    """A resumed run's load: `StateTable.open` (read, fold, recover orphans) and `send_order`, on a copy."""
    _fresh_copy(directory, scratch)
    files = len(list(scratch.rglob("*.parquet")))
    start = time.perf_counter()
    table = StateTable.open(scratch)
    opened = time.perf_counter() - start
    order = send_order(table, POLICY)
    seconds = time.perf_counter() - start
    counts = {k: v for k, v in table.counts().items() if v}
    table.lease.release()
    return {"files": files, "open_s": opened, "send_order_s": seconds - opened, "seconds": seconds,
            "order": len(order), "counts": counts}  # fmt: skip


def replan(path: Path, directory: Path, scratch: Path) -> dict[str, Any]:
    """What a resumed flow does before its first send: read and prepare the input, open the crashed
    table (a copy) and plan it, the input held throughout."""
    _fresh_copy(directory, scratch)
    start = time.perf_counter()
    prepared = prepare(read_input(path), SPEC)
    table = StateTable.open(scratch)
    batch = plan_batch(table, prepared, POLICY, shard_size=1000)
    seconds = time.perf_counter() - start
    table.lease.release()
    return {"seconds": seconds, "resumed": batch.resumed, "to_send": batch.to_send}


def _fresh_copy(directory: Path, scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(directory, scratch)
    shutil.rmtree(scratch / "leases")  # every writer is gone: their `submitting` rows are orphans


def files(directory: Path) -> dict[str, Any]:
    """The reference for a resume: reading every state file at once with pyarrow.dataset, nothing folded."""
    paths = [str(path) for path in sorted(directory.rglob("*.parquet"))]
    start = time.perf_counter()
    rows = ds.dataset(paths, format="parquet").to_table().num_rows
    return {"files": len(paths), "versions": rows, "seconds": time.perf_counter() - start}


def main(argv: list[str]) -> None:
    what, args = argv[0], [Path(a) for a in argv[1:]]
    steps: dict[str, Callable[..., dict[str, Any]]] = {
        "read": read,
        "plan": plan,
        "crash": crash,
        "resume": resume,
        "files": files,
        "replan": replan,
    }
    result = steps[what](*args)
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main(sys.argv[1:])
