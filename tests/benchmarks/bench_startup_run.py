"""Start-up: the wall time of a small `rowrelay run` on the embedded defaults, as a user sees it.

    .venv/bin/python -m tests.benchmarks.bench_startup_run [--quick] [--runs 5] [--first-runs 2]

A 3-row CSV (the first rows of data/sample/tickets.csv), the installed `rowrelay run` as a fresh process,
with no key, no base URL and no Prefect API configured: the embedded emulator and the local Prefect
server rowrelay starts once and reuses. Every run is a new batch (its own state directory), never a
resume. Measured, in this order, in one sitting:
- `import`: `python -c "import rowrelay.flows.batch"`, the reference (what any run pays to import
  Prefect, pandas, pyarrow and the SDK before doing anything);
- `first`: a fresh ROWRELAY_HOME (no server, no database, no emulator): includes starting the server,
  migrating its new database and starting the emulator; each in its own home, stopped afterwards;
- `warm`: the server, the emulator and the warm runner the first run left already running (the
  emulator's default latency: lognormal, median 2 s, so most of such a run is waiting for the model);
- `warm, latency 0`: the same with `ROWRELAY_EMULATOR_ARGS="--latency fixed:0"`: the run's own overhead,
  served by the warm runner (flows/warm.py), as the installed command is after a first run;
- `warm, latency 0, own process`: the same with `ROWRELAY_WARM=false`: every run imports for itself;
- `ephemeral`: `ROWRELAY_PREFECT=ephemeral`, latency 0, own process: a Prefect server started and
  stopped by every run (rowrelay's own, leashed to the run: flows/run_server.py), for comparison.
Medians. Each run follows its own import reference (load drifts on a shared machine); the ratio is
the median of run / the import next to it. One `warm, latency 0` run is
also profiled (pyinstrument); its text is saved to tests/benchmarks/results/startup_run_profile.txt.
Every server and emulator started here is stopped before the benchmark ends.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from rowrelay.flows.local_prefect import read_server
from tests.benchmarks._common import RESULTS_DIR, ROOT, median, table, write
from tests.support.local_prefect import environment, stopped_afterwards
from tests.support.warm import served, wait_for_runner

PROFILE = RESULTS_DIR / "startup_run_profile.txt"
ROWS = 3
IMPORT = "import rowrelay.flows.batch"
FIRST = "first run (fresh home: server start + migration)"
WARM = "warm run (default emulator latency)"
ZERO = "warm run (latency 0)"
OWN = "warm run (latency 0), own process"
EPHEMERAL = "ephemeral Prefect (latency 0), own process"
_ZERO = {"ROWRELAY_EMULATOR_ARGS": "--latency fixed:0"}
_OWN = {"ROWRELAY_WARM": "false"}


def _timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return took


class Runs:
    """`rowrelay run` on the 3-row input, each time into a new state directory under `tmp`."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.count = tmp, 0
        self.source = tmp / "tickets3.csv"
        pd.read_csv(ROOT / "data" / "sample" / "tickets.csv").head(ROWS).to_csv(self.source, index=False)

    def args(self) -> list[str]:
        self.count += 1
        where = self.tmp / f"run-{self.count}"
        return [
            "run", str(self.source), "--id-column", "ticket_id", "--template", "Triage: {subject}\n{body}",
            "--state", str(where / "state"), "--output", str(where / "out.csv"),
        ]  # fmt: skip

    def once(self, env: dict[str, str], *, profile: Path | None = None) -> float:
        """The installed `rowrelay` command (what users run); under pyinstrument, the CLI module."""
        if profile is None:
            return _timed([str(Path(sys.executable).with_name("rowrelay")), *self.args()], env)
        profiler = [sys.executable, "-m", "pyinstrument", "-o", str(profile)]
        return _timed([*profiler, "-m", "rowrelay.flows.cli", *self.args()], env)


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def _tracked(home: Path) -> int:
    """Batch flow runs the local server under `home` recorded (every run must be there)."""
    record = read_server(home)
    assert record is not None, f"no local Prefect server recorded under {home}"
    named = {"flows": {"name": {"any_": ["rowrelay-batch"]}}}
    return len(httpx.post(f"{record.url}/flow_runs/filter", json=named, timeout=60).json())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs per variant (medians)")
    parser.add_argument("--first-runs", type=int, default=2, help="runs from a fresh home (each its own)")
    parser.add_argument("--quick", action="store_true", help="3 warm runs, 1 first run, 1 ephemeral")
    args = parser.parse_args(argv)
    warm_n, first_n, ephemeral_n = (3, 1, 1) if args.quick else (args.runs, args.first_runs, 3)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    imports: list[float] = []

    def paired(env: dict[str, str]) -> tuple[float, float]:
        """A run, and an import of rowrelay.flows.batch right before it: load drifts on a shared
        machine, so each run is compared with the reference measured next to it."""
        imports.append(_timed([sys.executable, "-c", "import rowrelay.flows.batch"]))
        return runs.once(env), imports[-1]

    figures: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as name:
        tmp = Path(name)
        runs = Runs(tmp)
        first, warm = figures.setdefault(FIRST, []), figures.setdefault(WARM, [])
        for n in range(first_n):
            with stopped_afterwards(tmp / f"first-home-{n}") as home:
                env = environment(home, tmp / "client-prefect")
                first.append(paired(env))
                if n == 0:  # the same home, now warm
                    wait_for_runner(home)
                    warm.extend(paired(env) for _ in range(warm_n))
                    assert len(served(home)) == warm_n, "a warm run was not served by the runner"
                    assert _tracked(home) == 1 + warm_n
        with stopped_afterwards(tmp / "zero-home") as home:
            env = environment(home, tmp / "client-prefect", **_ZERO)
            runs.once(env)  # starts the server, the emulator and the runner: not counted
            wait_for_runner(home)
            figures[ZERO] = [paired(env) for _ in range(warm_n)]
            assert len(served(home)) == warm_n, "a warm run was not served by the runner"
            figures[OWN] = [paired({**env, **_OWN}) for _ in range(warm_n)]
            runs.once(env, profile=PROFILE)
            assert _tracked(home) == 2 + 2 * warm_n
        with stopped_afterwards(tmp / "ephemeral-home") as home:
            env = environment(home, tmp / "client-prefect", ROWRELAY_PREFECT="ephemeral", **_ZERO, **_OWN)
            runs.once(env)  # starts the emulator (and migrates the client's Prefect database): not counted
            figures[EPHEMERAL] = [paired(env) for _ in range(ephemeral_n)]
            assert read_server(home) is None
    rows = [[IMPORT, len(imports), f"{median(imports):.2f}", _span(imports), "1.00"]]
    for label, pairs in figures.items():
        walls = [wall for wall, _ in pairs]
        ratio = median([wall / reference for wall, reference in pairs])
        rows.append([label, len(walls), f"{median(walls):.2f}", _span(walls), f"{ratio:.2f}"])
    table(rows, ["what", "n", "median s", "range s", "x import (next to it)"])
    result = {
        "rows": ROWS,
        "import_s": imports,
        "wall_s": {label: [wall for wall, _ in pairs] for label, pairs in figures.items()},
        "median_s": {IMPORT: median(imports)}
        | {label: median([wall for wall, _ in pairs]) for label, pairs in figures.items()},
        "ratio_to_import_next_to_it": {
            label: median([wall / reference for wall, reference in pairs]) for label, pairs in figures.items()
        },
        "profile": str(PROFILE.relative_to(ROOT)),
    }
    write("startup_run", result)
    return result


if __name__ == "__main__":
    main()
