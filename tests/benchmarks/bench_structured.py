"""Structured outputs: what validating each answer and typing the output's columns cost per row.

    .venv/bin/python -m tests.benchmarks.bench_structured [--quick]

Answers are the emulator's for the nested schema of tests/support/structured.py (strings, enums,
numbers, a boolean, a list, an object, a list of objects, a nullable string). Per answer, medians of 5
rounds (each round runs all four, so a change of the machine's load falls on all alike):
- `json.loads`: parsing alone, the reference every figure is a ratio of (measured in the same run);
- `problem()`: rowrelay's check of a valid answer (`OutputSchema.problem`: parse, then fastjsonschema);
- `jsonschema`: parse, then jsonschema's Draft 2020-12 validator alone (what `problem()` would cost
  without the compiled fast path);
- `typed columns`: `with_typed_columns` over the whole batch, per row (what `run`/`export` add).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.benchmarks._common import median, table, write

REPEATS = 5


def _interleaved(works: dict[str, Callable[[], object]], rows: int) -> dict[str, float]:
    """Median seconds per row of each work; one round runs every work once, so a shared machine's
    changing load falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(REPEATS):
        for name, work in works.items():
            started = time.perf_counter()
            work()
            times[name].append((time.perf_counter() - started) / rows)
    return {name: median(values) for name, values in times.items()}


def main(argv: list[str]) -> None:
    import pandas as pd

    from rowrelay.tasks.dataset.typed import with_typed_columns
    from rowrelay.tasks.emulator.structured import JsonFormat, answer
    from rowrelay.tasks.llm.structured import load_output_schema
    from tests.support.structured import AllTypes

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows")
    rows = 2_000 if parser.parse_args(argv).quick else 20_000
    schema = load_output_schema(AllTypes)
    fmt = JsonFormat(schema.name, schema.schema, True)
    texts = [answer(fmt, 0, i.to_bytes(16, "big"), None) for i in range(rows)]
    assert all(schema.problem(text) is None for text in texts)
    validator = schema._validator
    frame = pd.DataFrame(
        {"row_index": range(rows), "rowrelay_status": ["completed"] * rows, "output_text": texts}
    )
    measured = _interleaved(
        {
            # Nothing is kept: 20,000 parsed answers held at once would bring the garbage collector in.
            "json.loads": lambda: all(json.loads(t) for t in texts),
            "problem()": lambda: any(schema.problem(t) for t in texts),
            "jsonschema": lambda: all(validator.is_valid(json.loads(t)) for t in texts),
            "typed columns": lambda: with_typed_columns(frame, schema.schema),
        },
        rows,
    )
    reference = measured["json.loads"]
    table(
        [(name, f"{seconds * 1e6:.1f}", f"{seconds / reference:.1f}x") for name, seconds in measured.items()],
        ("per answer", "us (median)", "vs json.loads"),
    )
    result: dict[str, Any] = {"rows": rows, "repeats": REPEATS, "seconds_per_row": measured}
    write("structured", result)


if __name__ == "__main__":
    main(sys.argv[1:])
