"""Scale: a 1,000,000-row batch planned and resumed.

    .venv/bin/python -m tests.benchmarks.bench_scale [--quick] [--rows 1000000]

Each step runs in a fresh process, so its peak RSS (VmHWM) is its own:
- plan: prepare a 1M-row DataFrame (keys, prompts, hashes) and `add_pending` it into a new state table;
- resume load: `StateTable.open` of the planned table (_state_table's child, imports outside the clock);
- checkpoint: flushes of 1,000 changed rows on the 1M-row table (`_state_table.checkpoints`).
Targets: resume load <= 3 s, peak RSS <= 1 GB.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks._common import peak_rss_mb, run_child, table, write
from tests.benchmarks._state_table import checkpoints, measure_in_child


def _plan_child(directory: Path, rows: int) -> None:
    import pandas as pd

    from rowrelay.tasks.dataset import InputSpec, prepare
    from rowrelay.tasks.state import StateTable

    frame = pd.DataFrame(
        {
            "id": [f"t{i:08d}" for i in range(rows)],
            "text": [f"Ticket {i}: the printer jams." for i in range(rows)],
        }
    )
    start = time.perf_counter()
    prepared = prepare(frame, InputSpec(template="Triage: {text}", id_column="id"))
    prepared_s = time.perf_counter() - start
    with StateTable.open(directory, batch_id="scale") as state:
        state.add_pending((row.row_key, row.row_index, row.input_hash) for row in prepared.rows)
        state.flush()
    total = time.perf_counter() - start
    print(
        json.dumps(
            {
                "prepare_s": prepared_s,
                "add_pending_s": total - prepared_s,
                "plan_s": total,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def _checkpoint_child(directory: Path) -> None:
    print(json.dumps({**checkpoints(directory, 1_000_000), "peak_rss_mb": peak_rss_mb()}))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        what, directory = argv[1], Path(argv[2])
        _plan_child(directory, int(argv[3])) if what == "plan" else _checkpoint_child(directory)
        return {}
    rows = (
        100_000
        if "--quick" in argv
        else int(argv[argv.index("--rows") + 1])
        if "--rows" in argv
        else 1_000_000
    )
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        directory = Path(tmp) / "scale"
        plan = run_child("tests.benchmarks.bench_scale", "--child", "plan", str(directory), str(rows))
        opened = [measure_in_child("open", directory) for _ in range(3)]
        checkpoint = run_child("tests.benchmarks.bench_scale", "--child", "checkpoint", str(directory))
    open_s = sorted(o["seconds"] for o in opened)[1]
    open_rss = sorted(o["peak_rss_mb"] for o in opened)[1]
    result = {
        "rows": rows,
        "plan": plan,
        "open_runs": opened,
        "open_median_s": open_s,
        "open_median_peak_rss_mb": open_rss,
        "checkpoint": checkpoint,
    }
    print(f"\nscale: {rows:,} rows")
    table(
        [
            (
                "plan (prepare + add_pending)",
                f"{plan['plan_s']:.2f} s",
                f"prepare {plan['prepare_s']:.2f} s, add_pending {plan['add_pending_s']:.2f} s",
                f"{plan['peak_rss_mb']:.0f} MB",
                "",
            ),
            (
                "resume load (StateTable.open, median of 3)",
                f"{open_s:.2f} s",
                "fresh process",
                f"{open_rss:.0f} MB",
                "<= 3 s, <= 1 GB",
            ),
            (
                "checkpoint of 1,000 changed rows (median)",
                f"{checkpoint['flush_1000_median_s'] * 1000:.0f} ms",
                f"close with compaction {checkpoint['close_with_compaction_s']:.2f} s",
                f"{checkpoint['peak_rss_mb']:.0f} MB",
                "",
            ),
        ],
        ("step", "time", "detail", "peak RSS", "target"),
    )
    write("scale", result)
    return result


if __name__ == "__main__":
    main()
