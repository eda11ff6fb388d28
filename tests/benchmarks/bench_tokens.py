"""A run bound by tokens a minute, against a server that enforces that limit per second.

    .venv/bin/python -m tests.benchmarks.bench_tokens [--rows 3000] [--tpm 1200000]

The emulator (own process, own core) enforces `--tpm` over a one-second window (`--rate-window 1`, as
OpenAI may: "60,000 requests/minute may be enforced as 1,000 requests/second"), answers take 0.5 s and
150 output tokens, and the server charges each create its prompt estimate plus its output ceiling (150).
rowrelay runs with the same tpm, creates and polls out of the way, in this process on the other core.

The reference is the limit itself: the tokens the server charged per second over the creates' span,
÷ tpm/60. rowrelay charges its own estimate (the prompt + 1.25 × the mean output seen, 1,024 until ten
answers are back), so its rate ÷ the limit is at most charged ÷ estimated; that bound is reported too.
Also: 429s as a share of creates, and the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks._common import cores, emulator, machine, table, write
from tests.benchmarks._workload import MODEL, prompt

OUTPUT = 150


async def _run(url: str, state: Path, rows: int, tpm: int) -> dict[str, Any]:
    from rowrelay.tasks.llm.estimates import estimate_tokens
    from rowrelay.tasks.run import open_session
    from rowrelay.tasks.settings import Settings
    from rowrelay.tasks.state import StateTable

    table_ = StateTable.open(state, batch_id="bench")
    table_.add_pending((f"row-{i:07d}", i, f"hash-{i}") for i in range(rows))
    settings = Settings(
        backend="emulator", base_url=url, model=MODEL, mode="poll", rpm=10**6, tpm=tpm, poll_rpm=10**7,
        max_in_flight=5000,
    )  # fmt: skip
    session = open_session(settings, table_, lambda key: prompt(int(key[4:])))
    started = time.monotonic()
    try:
        report = await session.runner.run()
    finally:
        await session.aclose()
        table_.close()
    prompts = [estimate_tokens(prompt(i)) for i in range(rows)]
    return {
        "wall_s": time.monotonic() - started,
        "counts": {k: int(v) for k, v in report.counts.items()},
        "prompt_tokens_mean": sum(prompts) / rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--tpm", type=int, default=1_200_000)
    args = parser.parse_args(argv)
    options = ("--tpm", str(args.tpm), "--rate-window", "1", "--output-tokens", f"{OUTPUT},{OUTPUT}",
               "--latency", "fixed:0.5", "--seed", "11")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tmp, emulator(*options) as emu:
        os.sched_setaffinity(0, cores()[1])
        run = asyncio.run(_run(emu.url, Path(tmp) / "state", args.rows, args.tpm))
        created = sorted(r["created_at_precise"] for r in emu.listing())
        codes = emu.stats()["status_codes"]
    charged = run["prompt_tokens_mean"] + OUTPUT  # what the server takes from its bucket per create
    estimated = run["prompt_tokens_mean"] + 1.25 * OUTPUT  # what rowrelay charges itself, once it knows
    span = created[-1] - created[0]
    limit = args.tpm / 60.0
    result = {
        "rows": args.rows, "tpm": args.tpm, "wall_s": round(run["wall_s"], 2), "counts": run["counts"],
        "creates": len(created), "server_429": int(codes.get("429", 0)),
        "rate_vs_limit": round((len(created) - 1) * charged / span / limit, 3) if span > 0 else None,
        "estimate_bound": round(charged / estimated, 3), "machine": machine(),
    }  # fmt: skip
    share = result["server_429"] / max(1, len(created))
    rows = [
        (
            "tokens charged per second ÷ the limit",
            result["rate_vs_limit"],
            f"{len(created):,} creates, {span:.1f} s",
        ),
        (
            "its own estimate's bound",
            result["estimate_bound"],
            f"{charged:.0f} charged ÷ {estimated:.0f} estimated",
        ),
        ("429s (share of creates)", f"{share:.2%}", f"{result['server_429']} of {len(created):,}"),
        ("wall time (s)", result["wall_s"], f"counts {run['counts']}"),
    ]
    table(rows, ("measure", "value", ""))
    write("tokens", result)
    return result


if __name__ == "__main__":
    main()
