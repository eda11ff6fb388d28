"""An output is never written among a batch's state files, nor over its running batch's own output.

A trial's `rowrelay export STATE --output STATE/snapshots/main-0000000099.parquet` was accepted and
damaged the table (`status`: "not a rowrelay state file"); `--output STATE/export.parquet` added a row
with no key to `latest_sql`, which read every Parquet file in the folder; and `export --output` naming
the running batch's own output wrote a mid-run snapshot there, which stayed as the batch's output when
the run was killed (only an export without --output was refused).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import latest_sql, load
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, Lease
from tests.support.duplicates import jobs_of
from tests.support.finished_batch import finished_batch
from tests.support.last_run import ran_on
from tests.support.runs import flow_args
from tests.support.tickets import TEMPLATE, write_tickets


def test_export_refuses_an_output_inside_the_state_folder_and_the_table_stays_whole(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    state = finished_batch(emulator, tmp_path, 2)
    before = load(state)
    for inside in (state / "snapshots" / "main-0000000099.parquet", state / "export.parquet"):
        refused = CliRunner().invoke(app, ["export", str(state), "--output", str(inside)])
        assert (refused.exit_code, refused.stderr) == (
            2,
            f"error: --output {inside}: is inside the batch's state folder {state}, whose files are its "
            "table: write it elsewhere\n",
        )
        assert not inside.exists()
    status = CliRunner().invoke(app, ["status", str(state)])
    assert status.exit_code == 0, status.stderr
    pd.testing.assert_frame_equal(load(state), before)


def test_latest_sql_reads_the_tables_own_files_alone(emulator: RunningEmulator, tmp_path: Path) -> None:
    state = finished_batch(emulator, tmp_path, 2)
    pq.write_table(
        pa.table({"ticket_id": ["T-1"], "rowrelay_status": ["completed"]}), state / "export.parquet"
    )
    relation = duckdb.sql(f"select row_key from ({latest_sql(state)})")
    assert relation is not None
    rows = relation.fetchall()
    assert sorted(key for (key,) in rows) == sorted(load(state)["row_key"])


async def test_run_refuses_an_output_inside_its_state_folder_before_sending(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    frame = pd.DataFrame({"ticket_id": ["T-1"], "body": ["printer jam"]})
    inside = tmp_path / "state" / "out.parquet"
    with pytest.raises(UsageError) as refused:
        await run_batch(frame, **flow_args(tmp_path, emulator, template="{body}", output=str(inside)))
    assert str(refused.value) == (
        f"output={inside}: is inside the batch's state folder {tmp_path / 'state'}, whose files are its "
        "table: write it elsewhere"
    )
    jobs, _unanswered = jobs_of(emulator.url)
    assert not jobs  # nothing sent, nothing paid


def test_export_refuses_the_running_batchs_own_output_however_it_is_named(tmp_path: Path) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 2)
    state, output = tmp_path / "state", tmp_path / "out" / "tickets.csv"
    prepared = prepare(read_input(source), InputSpec(TEMPLATE, id_column="ticket_id"))
    planned = [(row.row_key, row.row_index, row.input_hash) for row in prepared.rows]
    spec: dict[str, str | None] = {"template": TEMPLATE, "id_column": "ticket_id"}
    ran_on(state, output, "emulator", None, ["completed", "queued"], planned, input=source, spec=spec)
    lease = Lease.acquire(state, "main", timeout=LEASE_TIMEOUT, clock=time.time)  # this live process
    try:
        for named in (output, tmp_path / "out" / ".." / "out" / "tickets.csv"):
            refused = CliRunner().invoke(app, ["export", str(state), "--output", str(named)])
            assert refused.exit_code == 2, refused.stderr
            assert refused.stderr.startswith(f"error: {state}: a run holds this batch (host="), refused.stderr
            assert f"pid={os.getpid()} " in refused.stderr
            assert refused.stderr.endswith(
                f") and writes {named} when it ends; pass --output OTHER for a snapshot of its rows now\n"
            )
            assert not output.exists()
    finally:
        lease.release()
