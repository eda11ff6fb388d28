"""`rowrelay export` of a batch a run holds: not to the run's own output, which the run writes when it
ends. Written there, it was a snapshot of rows in flight that the run overwrote, or, had the run died,
that stayed as the batch's output, with a plain `wrote ...` and nothing saying it was taken mid-run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, Lease
from tests.support.cli import rowrelay
from tests.support.last_run import ran_on
from tests.support.tickets import TEMPLATE, write_tickets

ENV = dict(os.environ)


def test_export_refuses_the_output_a_running_batch_writes_and_writes_a_snapshot_elsewhere(
    tmp_path: Path,
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    state, output = tmp_path / "state", tmp_path / "out" / "tickets.csv"
    spec: dict[str, str | None] = {"template": TEMPLATE, "id_column": "ticket_id"}
    prepared = prepare(read_input(source), InputSpec(TEMPLATE, id_column="ticket_id"))
    planned = [(row.row_key, row.row_index, row.input_hash) for row in prepared.rows]
    statuses = ["completed", "queued", "pending"]
    ran_on(state, output, "emulator", None, statuses, planned, input=source, spec=spec)
    lease = Lease.acquire(state, "main", timeout=LEASE_TIMEOUT, clock=time.time)  # this live process
    try:
        refused = rowrelay(["export", str(state)], ENV)
        snapshot = rowrelay(["export", str(state), "--output", str(tmp_path / "now.csv")], ENV)
    finally:
        lease.release()
    assert refused.returncode == 2, refused.stderr
    line = refused.stderr
    assert line.startswith(
        f"error: {state}: a run holds this batch (host={lease.info.host} pid={os.getpid()} "
    ), line
    assert line.endswith(
        f") and writes {output} when it ends; pass --output OTHER for a snapshot of its rows now\n"
    )
    assert len(line.splitlines()) == 1, line
    assert not output.exists()
    assert snapshot.returncode == 0, snapshot.stderr
    assert list(pd.read_csv(tmp_path / "now.csv")["rowrelay_status"]) == statuses
    ended = rowrelay(["export", str(state)], ENV)  # the run has ended: its output is the batch's again
    assert ended.returncode == 0, ended.stderr
    assert output.exists()
