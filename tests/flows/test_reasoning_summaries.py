"""Reasoning summaries through the batch flow, against the emulator over a real socket: every create asks
for the summary, each row's summary (as the server wrote it) is in the state table and in a
`reasoning_summary` column of the output and of `rowrelay export`'s; a batch that asked for none keeps
its output's shape."""

from __future__ import annotations

from pathlib import Path

import openai
import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

ROWS = 12


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_each_rows_summary_reaches_the_table_the_output_and_the_export(
    prefect_api: str, tmp_path: Path, mode: str
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.export_command import export

    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.3"))) as emu:
        args = flow_args(tmp_path, emu, mode=mode, model="o4-mini", reasoning_summary="concise")
        result = await run_batch(str(source), **args)
        asked = [record.body["reasoning"] for record in emu.emulator.records.values()]
        state = load(tmp_path / "state")
        written = {}
        async with openai.AsyncOpenAI(base_url=emu.url, api_key="x") as client:
            for key, response_id in zip(state["row_key"], state["response_id"], strict=True):
                item = (await client.responses.retrieve(str(response_id))).output[0]
                assert item.type == "reasoning"
                written[key] = item.summary[0].text
    assert result.all_completed
    assert asked == [{"summary": "concise"}] * ROWS
    assert dict(zip(state["row_key"], state["reasoning_summary"], strict=True)) == written
    assert all(text.startswith("**") for text in written.values())
    output = pd.read_parquet(result.output)
    assert output.columns[-1] == "reasoning_summary"
    by_ticket = dict(zip(output["ticket_id"].astype(str), output["reasoning_summary"], strict=True))
    assert sorted(by_ticket.values()) == sorted(written.values())
    export(tmp_path / "state", output=tmp_path / "again.csv")
    assert (
        pd.read_csv(tmp_path / "again.csv")["reasoning_summary"].tolist()
        == output["reasoning_summary"].tolist()
    )


async def test_a_batch_that_asked_for_no_summary_has_no_summary_column(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 3)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        result = await run_batch(str(source), **flow_args(tmp_path, emu, model="o4-mini"))
        assert all("reasoning" not in record.body for record in emu.emulator.records.values())
    assert result.all_completed
    assert "reasoning_summary" not in pd.read_parquet(result.output).columns
    assert load(tmp_path / "state")["reasoning_summary"].isna().all()
