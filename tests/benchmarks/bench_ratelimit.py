"""Rate-limit efficiency: how close rowrelay runs to a create limit it shares with the server.

    .venv/bin/python -m tests.benchmarks.bench_ratelimit [--quick] [--rows 5000] [--rpm 3000]

5,000 rows against the emulator (own process, own core) with lognormal latency (median 3 s, sigma 0.4)
and a create limit of R = 3,000/min held in a one-minute token bucket, as OpenAI's limits are; rowrelay
runs with rpm=R, max_in_flight=1,000 and a poll budget out of the way, in its own process.

Measured, all from the server's side unless said:
- creates per minute ÷ R in the steady state. A full one-minute bucket admits R creates at once, so
  the first seconds run faster than R; the steady window starts at the first create at which the run
  has caught up with the bucket (cumulative creates within one second's refill of R + elapsed·R/60)
  and ends at the last create. Also the whole-run figure: the ideal span of the creates, (N − R)·60/R,
  ÷ the actual span from first to last create (1.0 means no create waited longer than the bucket asked).
- 429s the server sent, as a share of create requests; polls per completed row (rowrelay's counter).
- lag from a response completing on the server (its precise completion time in the emulator listing)
  to rowrelay recording it (`completed_at` in the state table), p50/p95, against the median latency.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks._common import (
    LATENCY,
    emulator,
    emulator_options,
    measure_rowrelay,
    report_rate_limit,
    workload_size,
    write,
)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    rows, rpm = workload_size(argv, __doc__ or "")
    with (
        tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as tmp,
        emulator(*emulator_options(rpm)) as emu,
    ):
        result = measure_rowrelay(emu, rows, rpm, "poll", Path(tmp))
    report_rate_limit(result, rows, rpm)
    write("ratelimit", {"rows": rows, "rpm": rpm, "latency": LATENCY, "max_in_flight": 1000, **result})
    return result


if __name__ == "__main__":
    main()
