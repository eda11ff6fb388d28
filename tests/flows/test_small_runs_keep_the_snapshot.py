"""A scheduled job's small runs over a big batch leave its snapshot alone: each `rowrelay run --limit 5`
of a 5,000-row batch rewrote the whole table at its end (one snapshot of every row, a compaction), however
few rows it sent. Now its end writes its rows' segments only, until they hold 5% of the snapshot's
rows (`compaction.worth_compacting`), and `status`, `export` and DuckDB read the batch as before."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import RESULT_STATUS, latest_sql, load
from rowrelay.tasks.state.files import SEGMENTS, SNAPSHOTS
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.tickets import write_tickets

ROWS = 5_000


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_runs_of_a_few_rows_leave_a_big_batchs_snapshot_untouched(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    state = tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        first = rowrelay([*run_args(source, tmp_path), "--limit", "20"], env)  # plans all 5,000 rows
        assert first.returncode == 0, first.stderr[-3000:]
        [snapshot] = (state / SNAPSHOTS).glob("*.parquet")
        stamp = (snapshot.stat().st_ino, snapshot.stat().st_mtime_ns)
        for run in range(1, 4):
            small = rowrelay([*run_args(source, tmp_path), "--limit", "5"], env)
            assert small.returncode == 0, small.stderr[-3000:]
            assert list((state / SNAPSHOTS).glob("*.parquet")) == [snapshot], f"run {run}"
            assert (snapshot.stat().st_ino, snapshot.stat().st_mtime_ns) == stamp, f"run {run} rewrote it"
        assert list((state / SEGMENTS).glob("*.parquet"))  # the small runs' rows, in segments of their own
        facts = json.loads(rowrelay(["status", str(state), "--json"], env).stdout)
        exported = rowrelay(["export", str(state), "--output", str(tmp_path / "export.csv")], env)
        assert exported.returncode == 0, exported.stderr[-3000:]

    frame = load(state)
    assert facts["rows"] == ROWS
    assert facts["counts"]["completed"] == 35
    assert facts["counts"]["pending"] == ROWS - 35
    assert (frame["status"] == "completed").sum() == 35
    output = pd.read_csv(tmp_path / "export.csv", dtype=str)
    assert set(output.loc[output[RESULT_STATUS] == "completed", "ticket_id"]) == set(
        frame.loc[frame["status"] == "completed", "row_key"]
    )
    read = duckdb.sql(f"select status from ({latest_sql(state)}) order by row_index")
    assert read is not None
    assert [status for (status,) in read.fetchall()] == list(frame["status"])
