"""rowrelay against the obvious alternative, on the rate-limit benchmark's workload.

    .venv/bin/python -m tests.benchmarks.bench_baseline [--quick] [--rows 5000] [--rpm 3000]

The baseline (tests/benchmarks/_workload.py) is the pattern as usually first written: an asyncio task
per row that creates a background response and polls it every 2 s, bounded by a semaphore (1,000) and an
aiolimiter limit of R creates/min, results held in memory, no checkpoints, the SDK's default retries.
Each side runs in its own process against its own fresh emulator (own core); requests and 429s are the
server's counts, peak memory is the runner process's VmHWM. rowrelay runs in poll mode and in stream mode.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks._common import (
    emulator,
    emulator_options,
    measure_baseline,
    measure_rowrelay,
    table,
    workload_size,
    write,
)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    rows, rpm = workload_size(argv, __doc__ or "")
    sides: dict[str, dict[str, Any]] = {"baseline": measure_baseline(rows, rpm)}
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        for mode in ("poll", "stream"):
            with emulator(*emulator_options(rpm)) as emu:
                sides[f"rowrelay_{mode}"] = measure_rowrelay(emu, rows, rpm, mode, Path(tmp))
    base = sides["baseline"]
    ratios = {
        side: {
            "wall": sides[side]["wall_s"] / base["wall_s"],
            "requests": sides[side]["requests"] / base["requests"],
            "429s": sides[side]["server_429"] / max(1, base["server_429"]),
            "peak_rss": sides[side]["peak_rss_mb"] / base["peak_rss_mb"],
        }
        for side in ("rowrelay_poll", "rowrelay_stream")
    }
    stream_vs_poll = {
        key: sides["rowrelay_stream"][field] / max(1e-9, sides["rowrelay_poll"][field])
        for key, field in (("wall", "wall_s"), ("requests", "requests"), ("peak_rss", "peak_rss_mb"))
    }
    report(sides, ratios, stream_vs_poll, rows, rpm)
    write(
        "baseline",
        {
            "rows": rows,
            "rpm": rpm,
            "sides": sides,
            "ratios_vs_baseline": ratios,
            "stream_over_poll": stream_vs_poll,
        },
    )
    return sides


def report(
    sides: dict[str, dict[str, Any]],
    ratios: dict[str, dict[str, float]],
    stream: dict[str, float],
    rows: int,
    rpm: int,
) -> None:
    print(f"\nrowrelay vs baseline: {rows:,} rows, R = {rpm:,} creates/min")
    lines = []
    for side, r in sides.items():
        lines.append(
            (
                side,
                f"{r['wall_s']:.1f}",
                f"{r['requests']:,}",
                f"{r['create_requests']:,}",
                f"{r['server_429']:,}",
                f"{r['peak_rss_mb']:.0f}",
            )
        )
    for side, q in ratios.items():
        lines.append(
            (
                f"{side} ÷ baseline",
                f"{q['wall']:.2f}",
                f"{q['requests']:.2f}",
                "",
                f"{q['429s']:.2f}",
                f"{q['peak_rss']:.2f}",
            )
        )
    lines.append(("baseline rows failed", str(sides["baseline"].get("failed", 0)), "", "", "", ""))
    lines.append(
        (
            "stream ÷ poll",
            f"{stream['wall']:.2f}",
            f"{stream['requests']:.2f}",
            "",
            "",
            f"{stream['peak_rss']:.2f}",
        )
    )
    table(lines, ("side", "wall s", "requests", "creates", "429s", "peak RSS MB"))


if __name__ == "__main__":
    main()
