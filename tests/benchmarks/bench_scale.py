"""Scale: a 1,000,000-row batch planned, crashed and resumed.

    .venv/bin/python -m tests.benchmarks.bench_scale [--quick] [--rows 1000000]

Every step runs in a fresh process (`_scale_children`), so its peak RSS (VmHWM) is its own, pinned to one
core (the other is left to the rest of the machine); each timed step alternates with its reference, three
times, and medians are reported. The resume and its reference run again on every core, as a user's
process does (state files are read several at once, and Arrow decodes a snapshot's columns in threads):
- plan: a sample-like CSV (the demo tickets tiled, ~250 bytes a row) through `read_input`, `prepare`,
  `StateTable.open`, `plan_batch` and `close`: what a first run does before and around its first send.
  Reference: `read_input` alone (pandas.read_csv of the file, every column as text).
- resume load: the planned table after WRITERS crashed shards, each with COMPACT_SEGMENTS group commits
  (hundreds of segments, thousands of rows in flight with response ids, orphans to recover), opened and
  planned: `StateTable.open` (read, fold, orphan recovery) + `send_order`. Reference: reading every
  state file at once with pyarrow.dataset, nothing folded.
- re-plan (once): what a resumed flow does before its first send, the input and the crashed table at once.
- the fresh compacted table's `StateTable.open`, and checkpoints of 1,000 changed rows (`_state_table`).
Targets: plan <= 1 GB peak RSS; resume load <= 3 s and <= 1 GB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks._common import run_child, table, write
from tests.benchmarks._scale_children import WRITERS, write_input
from tests.benchmarks._state_table import checkpoints, measure_in_child, peak_rss_mb

CHILD = "tests.benchmarks._scale_children"
RUNS = 3


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def _alternating(
    step: list[str], reference: list[str], *, pinned: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """RUNS of a step and of its reference, interleaved so a change in the machine's load hits both."""
    steps, references = [], []
    for _ in range(RUNS):
        references.append(run_child(CHILD, *reference, pinned=pinned))
        steps.append(run_child(CHILD, *step, pinned=pinned))
    return steps, references


def _checkpoint_child(directory: Path) -> None:
    import json

    print(json.dumps({**checkpoints(directory, 1_000_000), "peak_rss_mb": peak_rss_mb()}))


def _rows(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    args = parser.parse_args(argv)
    return 100_000 if args.quick else int(args.rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _checkpoint_child(Path(argv[1]))
        return {}
    rows = _rows(argv)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        source, state, scratch = root / "tickets.csv", root / "state", root / "scratch"
        write_input(source, rows)
        input_mb = source.stat().st_size / 2**20
        plans, reads = [], []
        for _ in range(RUNS):
            shutil.rmtree(state, ignore_errors=True)
            reads.append(run_child(CHILD, "read", str(source)))
            plans.append(run_child(CHILD, "plan", str(source), str(state)))
        opened = [measure_in_child("open", state) for _ in range(RUNS)]
        shutil.copytree(state, scratch)
        checkpoint = run_child("tests.benchmarks.bench_scale", "--child", str(scratch))
        crash = run_child(CHILD, "crash", str(state))
        resumes, files = _alternating(["resume", str(state), str(scratch)], ["files", str(state)])
        resumes_all, files_all = _alternating(
            ["resume", str(state), str(scratch)], ["files", str(state)], pinned=False
        )
        replan = run_child(CHILD, "replan", str(source), str(state), str(scratch))
    result = {
        "rows": rows,
        "input_mb": input_mb,
        "plan_runs": plans,
        "read_runs": reads,
        "fresh_open_runs": opened,
        "checkpoint": checkpoint,
        "crash": crash,
        "resume_runs": resumes,
        "state_file_read_runs": files,
        "replan": replan,
        "plan_median_s": _median(plans, "seconds"),
        "plan_median_peak_rss_mb": _median(plans, "peak_rss_mb"),
        "read_median_s": _median(reads, "seconds"),
        "read_median_peak_rss_mb": _median(reads, "peak_rss_mb"),
        "resume_median_s": _median(resumes, "seconds"),
        "resume_median_peak_rss_mb": _median(resumes, "peak_rss_mb"),
        "state_file_read_median_s": _median(files, "seconds"),
        "every_core": len(os.sched_getaffinity(0)),
        "resume_every_core_runs": resumes_all,
        "state_file_read_every_core_runs": files_all,
        "resume_every_core_median_s": _median(resumes_all, "seconds"),
        "state_file_read_every_core_median_s": _median(files_all, "seconds"),
    }
    _report(result)
    write("scale", result)
    return result


def _report(r: dict[str, Any]) -> None:
    plans, resumes, last = r["plan_runs"], r["resume_runs"], r["resume_runs"][-1]
    in_flight = sum(n for status, n in last["counts"].items() if status in ("queued", "in_progress"))
    plan_detail = (
        f"{r['plan_median_s'] / r['read_median_s']:.1f}x read; prepare {_median(plans, 'prepare_s'):.2f} s, "
        f"plan_batch {_median(plans, 'plan_s'):.2f} s, close {_median(plans, 'close_s'):.2f} s"
    )
    resume_detail = (
        f"{r['resume_median_s'] / r['state_file_read_median_s']:.1f}x files; open "
        f"{_median(resumes, 'open_s'):.2f} s, send_order {_median(resumes, 'send_order_s'):.2f} s; "
        f"{WRITERS} dead writers, {in_flight:,} in flight, {last['counts'].get('orphaned', 0):,} orphans"
    )
    fresh, checkpoint = r["fresh_open_runs"], r["checkpoint"]
    print(f"\nscale: {r['rows']:,} rows, input {r['input_mb']:.0f} MB of CSV; medians of {RUNS}")
    table(
        [
            ("read the input (reference: read_input = pandas.read_csv)", f"{r['read_median_s']:.2f} s", "",
             f"{r['read_median_peak_rss_mb']:.0f} MB", ""),
            ("plan: read + prepare + open + plan_batch + close", f"{r['plan_median_s']:.2f} s", plan_detail,
             f"{r['plan_median_peak_rss_mb']:.0f} MB", "<= 1 GB"),
            ("read every state file (reference: pyarrow.dataset)", f"{r['state_file_read_median_s']:.2f} s",
             f"{last['files']} files", "", ""),
            ("resume load: open + recover orphans + send_order", f"{r['resume_median_s']:.2f} s",
             resume_detail, f"{r['resume_median_peak_rss_mb']:.0f} MB", "<= 3 s, <= 1 GB"),
            (f"the same two on every core ({r['every_core']}), as a user's process runs: the files",
             f"{r['state_file_read_every_core_median_s']:.2f} s", "", "", ""),
            ("resume load, every core", f"{r['resume_every_core_median_s']:.2f} s",
             f"{r['resume_every_core_median_s'] / r['state_file_read_every_core_median_s']:.1f}x files",
             f"{_median(r['resume_every_core_runs'], 'peak_rss_mb'):.0f} MB", "<= 3 s, <= 1 GB"),
            ("re-plan with the input (a resumed flow: read, prepare, open, plan_batch)",
             f"{r['replan']['seconds']:.2f} s", "one run", f"{r['replan']['peak_rss_mb']:.0f} MB", ""),
            ("open of the fresh compacted table", f"{_median(fresh, 'seconds'):.2f} s", "",
             f"{_median(fresh, 'peak_rss_mb'):.0f} MB", ""),
            ("checkpoint of 1,000 changed rows (median)",
             f"{checkpoint['flush_1000_median_s'] * 1000:.0f} ms",
             f"close with compaction {checkpoint['close_with_compaction_s']:.2f} s",
             f"{checkpoint['peak_rss_mb']:.0f} MB", ""),
        ],
        ("step", "time", "detail", "peak RSS", "target"),
    )  # fmt: skip


if __name__ == "__main__":
    main()
