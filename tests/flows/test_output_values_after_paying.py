"""Outputs written after every row was paid for, whatever values the input holds.

A trial paid for every row of a Parquet file whose `list<timestamp>` held a null, then lost its output:
"cannot write the output ... as jsonl: unrepresentable numpy.datetime64", exit 2, and `rowrelay export`
failed the same way every time (orjson serialised pandas' NumPy arrays itself and stopped on NaT); a
DataFrame with a complex column paid too, then failed its Parquet output ("Unsupported numpy type 15").
Each run here goes through the flow to the emulator, and each row is paid for once (the server's jobs
per row against what the row counted); then the output holds the values, or, for a value its format
still cannot hold, the one line says the results are kept and how to write them elsewhere.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import OutputWriteError
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import flow_args


def _paid_once(state: str, url: str) -> None:
    rows = load(Path(state))
    assert (rows["status"] == "completed").all()
    jobs, unanswered = jobs_of(url)
    assert_every_job_is_paid_for(rows, jobs, unanswered)
    assert [jobs[key] for key in rows["row_key"]] == [1] * len(rows)


def _lines(path: str) -> list[bytes]:
    return Path(path).read_bytes().splitlines()


async def test_a_parquet_list_holding_a_null_time_a_zone_or_an_infinity_is_written_in_every_format(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    zone = pa.timestamp("us", tz="Europe/Berlin")
    source = tmp_path / "in.parquet"
    table = pa.table(
        {
            "ticket_id": ["a", "b"],
            "body": ["printer jam", "no wifi"],
            "seen": pa.array(
                [[dt.datetime(2024, 1, 1)], [dt.datetime(2024, 1, 2), None]], pa.list_(pa.timestamp("us"))
            ),
            "local": pa.array([[dt.datetime(2024, 7, 1, 10, tzinfo=dt.UTC)], []], pa.list_(zone)),
            "scores": pa.array([[float("inf"), 1.0], [float("-inf"), None]], pa.list_(pa.float64())),
        }
    )
    pq.write_table(table, source)
    args = flow_args(tmp_path, emulator, template="{body}", output=str(tmp_path / "out.jsonl"))
    result = await run_batch(str(source), **args)
    assert result.all_completed
    _paid_once(args["state"], emulator.url)

    lines = [orjson.loads(line) for line in _lines(result.output)]
    assert [line["seen"] for line in lines] == [["2024-01-01T00:00:00"], ["2024-01-02T00:00:00", None]]
    assert [line["local"] for line in lines] == [["2024-07-01T12:00:00+02:00"], []]  # 12:00 in Berlin
    assert [line["scores"] for line in lines] == [["inf", 1.0], ["-inf", None]]  # as a top-level one

    exported = CliRunner().invoke(app, ["export", args["state"], "--output", str(tmp_path / "again.parquet")])
    assert exported.exit_code == 0, exported.stderr
    again = pq.read_table(tmp_path / "again.parquet")
    assert again.select(["seen", "local", "scores"]) == table.select(["seen", "local", "scores"])
    exported = CliRunner().invoke(app, ["export", args["state"], "--output", str(tmp_path / "again.csv")])
    assert exported.exit_code == 0, exported.stderr
    text = pd.read_csv(tmp_path / "again.csv")
    assert list(text["seen"]) == ['["2024-01-01 00:00:00"]', '["2024-01-02 00:00:00", null]']
    assert list(text["local"]) == ['["2024-07-01 12:00:00+02:00"]', "[]"]
    assert list(text["scores"]) == ['["inf", 1.0]', '["-inf", null]']  # `Infinity` is not JSON


async def test_a_frames_complex_and_long_integer_columns_are_written_after_the_rows_are_paid_for(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    frame = pd.DataFrame(
        {
            "ticket_id": ["a", "b"],
            "body": ["printer jam", "no wifi"],
            "z": np.array([1 + 2j, 3j]),
            "big": [2**70, 5],
        }
    )
    args = flow_args(tmp_path, emulator, template="{body}")
    result = await run_batch(frame, **args)
    assert result.all_completed
    written = pd.read_parquet(result.output)
    assert list(written["z"]) == ["(1+2j)", "3j"]  # as text, as CSV and JSONL write them
    assert list(written["big"]) == [str(2**70), "5"]

    on_jsonl = flow_args(tmp_path, emulator, template="{body}", output=str(tmp_path / "out.jsonl"))
    result = await run_batch(frame, **on_jsonl)  # the same batch: nothing is sent again
    lines = _lines(result.output)
    assert [orjson.loads(line)["z"] for line in lines] == ["(1+2j)", "3j"]
    assert [line.split(b'"big":')[1].split(b",")[0] for line in lines] == [str(2**70).encode(), b"5"]
    _paid_once(args["state"], emulator.url)


async def test_an_output_whose_values_its_format_cannot_hold_says_the_rows_are_kept_and_where_to_write_them(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    frame = pd.DataFrame({"ticket_id": ["a"], "body": ["printer jam"], "pairs": [{(1, 2): "x"}]})
    args = flow_args(tmp_path, emulator, template="{body}", output=str(tmp_path / "out.jsonl"))
    with pytest.raises(OutputWriteError) as stopped:  # JSON has no key that is a pair
        await run_batch(frame, **args)
    said = str(stopped.value)
    assert said.startswith(f"could not write the output {tmp_path / 'out.jsonl'} (its values cannot be ")
    assert said.endswith(
        f"every row's result is kept in the batch's state table: `rowrelay export {args['state']} --output "
        "OTHER` writes it to another file or format (nothing is sent again)"
    )
    assert not (tmp_path / "out.jsonl").exists()
    _paid_once(args["state"], emulator.url)
