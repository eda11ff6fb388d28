"""A batch with server-side tools through the batch flow, against the emulator over a real socket: each
row's billed tool calls (as the server made them) and the pages its answer cites are in the state table,
in `tool_calls` and `citations` columns of the output and of `rowrelay export`'s, and the calls in
`rowrelay status`; a batch without tools keeps its output's shape. `run.json` records the tools (and
the temperature) a resume is compared with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import load, read_run_record
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

ROWS = 10


async def test_each_rows_searches_reach_the_table_the_output_the_export_and_status(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.export_command import export
    from rowrelay.flows.state_commands import status

    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.3"))) as emu:
        tools = [{"type": "web_search"}]  # from Python: the API's tool objects themselves
        result = await run_batch(str(source), **flow_args(tmp_path, emu, tools=tools, max_tool_calls=2))
        state = load(tmp_path / "state")
        made = {}
        async with openai.AsyncOpenAI(base_url=emu.url, api_key="x") as client:
            for key, response_id in zip(state["row_key"], state["response_id"], strict=True):
                items = (await client.responses.retrieve(str(response_id))).output
                made[key] = sum(item.type == "web_search_call" for item in items)
    assert result.all_completed
    assert result.tool_calls == sum(made.values())
    record = read_run_record(tmp_path / "state")
    assert record is not None
    assert record.tools == tools  # what a resume is compared with
    assert set(made.values()) <= {1, 2}
    assert dict(zip(state["row_key"], state["tool_calls"], strict=True)) == made
    output = pd.read_parquet(result.output)
    assert list(output.columns[-2:]) == ["tool_calls", "citations"]
    assert sorted(output["tool_calls"]) == sorted(made.values())
    cited = {key: json.loads(text) for key, text in zip(state["row_key"], state["citations"], strict=True)}
    assert all(len(pages) == made[key] for key, pages in cited.items())  # the emulator cites each search
    assert [[_page(c) for c in row] for row in output["citations"]] == [
        cited[key] for key in output["ticket_id"]
    ]
    export(tmp_path / "state", output=tmp_path / "again.csv")
    again = pd.read_csv(tmp_path / "again.csv")
    assert again["tool_calls"].tolist() == output["tool_calls"].tolist()
    assert [[_page(c) for c in json.loads(row)] for row in again["citations"]] == [
        cited[key] for key in output["ticket_id"]
    ]
    capsys.readouterr()
    status(tmp_path / "state")
    said, total = capsys.readouterr().out, sum(made.values())
    assert f"tool calls {total:,} (web searches, " in said
    assert f"{total / ROWS:.1f} a completed row" in said


def _page(citation: dict[str, Any]) -> dict[str, Any]:
    """A web citation as the state keeps it: its address and title (an output's struct adds the file
    fields, null)."""
    assert citation["file_id"] is None is citation["filename"]
    return {"url": citation["url"], "title": citation["title"]}


async def test_a_batch_without_tools_has_no_tool_calls_column_and_records_its_temperature(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 3)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        result = await run_batch(str(source), **flow_args(tmp_path, emu, temperature=0.0))
        assert all("tools" not in record.body for record in emu.emulator.records.values())
    assert result.all_completed
    record = read_run_record(tmp_path / "state")
    assert record is not None
    assert (record.tools, record.temperature) == (None, 0.0)
    assert not {"tool_calls", "citations"} & set(pd.read_parquet(result.output).columns)
    assert load(tmp_path / "state")[["tool_calls", "citations"]].isna().all().all()


@pytest.mark.parametrize(
    ("column", "asked"),
    [
        ("tool_calls", {"tools": "web_search"}),
        ("citations", {"tools": "web_search"}),
        ("reasoning_summary", {"reasoning_summary": "auto"}),
        ("answer_logprob", {"logprobs": 2}),
        ("token_logprobs", {"logprobs": 0}),
    ],
)
def test_an_input_column_named_like_a_result_column_the_run_asks_for_is_refused_before_anything_is_sent(
    tmp_path: Path, column: str, asked: dict[str, Any]
) -> None:
    from rowrelay.flows.precheck import read_checked
    from rowrelay.flows.request import BatchRequest

    source = tmp_path / "notes.csv"
    source.write_text(f"id,{column}\n1,mine\n")
    request = BatchRequest.build(source, template=f"{{{column}}}", **asked)
    with pytest.raises(UsageError, match=rf"input column\(s\) {column} clash with result columns"):
        read_checked(request)
    read_checked(BatchRequest.build(source, template=f"{{{column}}}"))  # not asked for: no clash
