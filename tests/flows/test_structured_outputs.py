"""Structured outputs through the batch flow, against the emulator over a real socket: every row asks for
the schema's strict `text.format`, a valid answer becomes typed columns (Parquet and CSV), an answer that
is not JSON or breaks the schema fails its row alone (text kept) and is retried by policy, and a refusal
is recorded as one and not sent again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm.structured import load_output_schema
from rowrelay.tasks.state import load, read_run_record
from tests.support.runs import creates_per_row
from tests.support.runs import flow_args as support_flow_args
from tests.support.structured import COLUMN_TYPES, AllTypes
from tests.support.tickets import write_tickets

SCHEMA = load_output_schema(AllTypes).schema


def flow_args(tmp_path: Path, emu: RunningEmulator, **extra: Any) -> dict[str, Any]:
    return support_flow_args(tmp_path, emu, **{"output_schema": AllTypes, **extra})


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_every_field_becomes_a_typed_column_in_parquet_and_csv(
    prefect_api: str, tmp_path: Path, mode: str
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.export_command import export

    source = write_tickets(tmp_path / "tickets.csv", 24)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.3"))) as emu:
        result = await run_batch(str(source), **flow_args(tmp_path, emu, mode=mode))
        sent = [record.body["text"]["format"] for record in emu.emulator.records.values()]
    assert result.all_completed
    assert len(sent) == 24
    assert all(
        f == {"type": "json_schema", "name": "AllTypes", "schema": SCHEMA, "strict": True} for f in sent
    )
    types = pq.read_schema(result.output)
    assert {name: types.field(name).type for name in COLUMN_TYPES} == COLUMN_TYPES
    output = pd.read_parquet(result.output)
    assert list(output.columns[-len(COLUMN_TYPES) :]) == list(COLUMN_TYPES)
    for _, row in output.iterrows():
        answer = json.loads(row["output_text"])
        jsonschema.validate(answer, SCHEMA)
        assert row["category"] == answer["category"]
        assert row["priority"] == answer["priority"]
        assert row["urgent"] == answer["urgent"]
        assert list(row["tags"]) == answer["tags"]
        assert dict(row["owner"]) == answer["owner"]
        assert [dict(step) for step in row["steps"]] == answer["steps"]
        assert (row["note"] if pd.notna(row["note"]) else None) == answer["note"]
    # `rowrelay export` types the same columns from the run's record; CSV nests as JSON text.
    assert read_run_record(tmp_path / "state").output_schema == SCHEMA  # type: ignore[union-attr]
    export(tmp_path / "state", output=tmp_path / "out.csv")
    csv = pd.read_csv(tmp_path / "out.csv")
    first = json.loads(output["output_text"][0])
    assert csv["priority"].dtype == "int64"
    assert csv["score"].dtype == "float64"
    assert csv["urgent"].dtype == "bool"
    assert json.loads(csv["owner"][0]) == first["owner"]
    assert json.loads(csv["tags"][0]) == first["tags"]
    assert csv["category"].tolist() == output["category"].tolist()
    export(tmp_path / "state", output=tmp_path / "out.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [{name: line[name] for name in COLUMN_TYPES} for line in lines] == [
        json.loads(text) for text in output["output_text"]
    ]


async def test_invalid_json_and_schema_violations_fail_only_their_rows_and_are_retried(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 40)
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), invalid_json_rate=0.3, seed=3)
    with running_emulator(config) as emu:
        first = await run_batch(str(source), **flow_args(tmp_path, emu, max_attempts=1))
        state = load(tmp_path / "state")
        bad = state[state["status"] == "failed"]
        assert 0 < len(bad) < 40
        assert set(bad["error_type"]) == {"invalid_json", "schema_mismatch"}
        assert bad["output_text"].str.len().min() > 0, "the raw answer is kept"
        assert (state.loc[state["status"] != "failed", "status"] == "completed").all()
        output = pd.read_parquet(first.output)
        failed_rows = output[output["rowrelay_status"] == "failed"]
        assert failed_rows["category"].isna().all(), "a failed row has no typed values"
        assert failed_rows["error"].str.contains("JSON|schema").all()
        assert output.loc[output["rowrelay_status"] == "completed", "category"].notna().all()
        before = creates_per_row(emu)
        # Retried by policy: the same command with attempts left sends the failed rows again, only them.
        second = await run_batch(str(source), **flow_args(tmp_path, emu, max_attempts=4))
        after = creates_per_row(emu)
    resent = {key for key in after if after[key] > before[key]}
    assert resent == set(bad["row_key"])
    assert second.counts.get("completed", 0) > first.counts["completed"]


async def test_a_refusal_is_recorded_as_one_and_not_sent_again(prefect_api: str, tmp_path: Path) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 30)
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), refusal_rate=0.3, seed=5)
    with running_emulator(config) as emu:
        await run_batch(str(source), **flow_args(tmp_path, emu))
        refused = load(tmp_path / "state").query("status == 'failed'")
        assert len(refused) > 0
        assert set(refused["error_type"]) == {"refusal"}
        assert refused["error_message"].str.startswith("the model refused: I'm sorry").all()
        assert set(refused["attempts"]) == {1}, "a refusal is not sent again automatically"


async def test_chat_completions_rows_get_the_schema_as_their_response_format(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")  # the chat backend wants a key; the emulator takes any
    source = write_tickets(tmp_path / "tickets.csv", 6)
    result = await run_batch(str(source), **flow_args(tmp_path, emulator, backend="chat"))
    assert result.all_completed
    output = pd.read_parquet(result.output)
    for text in output["output_text"]:
        jsonschema.validate(json.loads(text), SCHEMA)
    assert output["priority"].between(1, 4).all()


async def test_a_json_schema_dict_from_python_works_too(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator
) -> None:
    from rowrelay.flows.batch import run_batch

    schema = json.loads((Path(__file__).parents[2] / "data" / "sample" / "triage.schema.json").read_text())
    source = write_tickets(tmp_path / "tickets.csv", 5)
    result = await run_batch(str(source), **flow_args(tmp_path, emulator, output_schema=schema))
    output = pd.read_parquet(result.output)
    assert set(output["priority"]) <= {"P1", "P2", "P3", "P4"}
    assert output["summary"].str.len().min() > 0


async def test_typed_columns_follow_the_results_and_the_asked_columns_end_the_output(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator
) -> None:
    """With a schema and `--logprobs` (a column the run asks for), the typed fields come right after the
    result columns and the asked ones end the output, as the README says, in the run's output and in
    `rowrelay export`'s alike."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.export_command import export

    source = write_tickets(tmp_path / "tickets.csv", 3)
    result = await run_batch(str(source), **flow_args(tmp_path, emulator, logprobs=1))
    columns = list(pd.read_parquet(result.output).columns)
    after_cost = columns[columns.index("cost_usd") + 1 :]
    assert after_cost == [*COLUMN_TYPES, "answer_logprob", "token_logprobs"]
    export(tmp_path / "state", output=tmp_path / "again.parquet")
    assert list(pd.read_parquet(tmp_path / "again.parquet").columns) == columns
