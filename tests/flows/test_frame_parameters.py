"""A DataFrame handed to `run_batch` from Python is described in Prefect's record of the flow run, never
stored: Prefect encoded a frame of text whole into its database (every row readable in the UI and through
its API), and refused one over 512 KB (`422 Flow run parameters must be less than 524,288 bytes`), so it
could not run at all."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from tests.support.prefect_records import flow_run_on
from tests.support.runs import flow_args

_ROWS = 2_000
_MARKER = "confidential-ticket-text"


def _big_text_frame() -> pd.DataFrame:
    """About 600 KB of text in two text columns (no numeric column, which Prefect could not encode)."""
    body = f"{_MARKER} the customer wrote a fairly ordinary ticket body " * 5
    return pd.DataFrame(
        {"ticket_id": [f"T-{i:05d}" for i in range(_ROWS)], "body": [f"{i}: {body}" for i in range(_ROWS)]}
    )


async def test_a_frame_over_prefects_parameter_limit_runs_and_none_of_its_text_is_recorded(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    frame = _big_text_frame()
    assert len(frame.to_json()) > 524_288  # past the size Prefect's API refuses for a run's parameters
    args = flow_args(tmp_path, emulator, template="{body}", limit=4)
    result = await run_batch(frame, **args)

    assert result.run_counts["completed"] == 4
    assert result.all_completed
    assert len(load(result.state_dir)) == _ROWS  # the flow read the whole frame, in-process
    stored = (await flow_run_on(Path(args["state"]))).parameters
    assert stored["source"] == f"<DataFrame: {_ROWS:,} rows x 2 columns>"
    assert _MARKER not in json.dumps(stored)
    assert "T-00001" not in json.dumps(stored)
