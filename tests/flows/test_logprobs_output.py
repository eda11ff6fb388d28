"""`--logprobs N` through the batch flow, against the emulator over a real socket: the output gets each
answer's log probability (the sum of its tokens') and its tokens, as Parquet's nested data and CSV's JSON
text; `run.json` records the ask, so `rowrelay export` writes the same columns; a batch that asks for
none keeps its output's shape."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load, read_run_record
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

ROWS = 6


async def test_the_output_has_each_answers_log_probability_and_its_tokens(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.export_command import export

    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        result = await run_batch(str(source), **flow_args(tmp_path, emu, logprobs=2))
    assert result.all_completed
    record = read_run_record(tmp_path / "state")
    assert record is not None
    assert record.logprobs == 2
    state = load(tmp_path / "state")
    kept_by_row = dict(zip(state["row_key"], state["logprobs"], strict=True))
    output = pd.read_parquet(result.output).set_index("ticket_id")
    assert list(output.columns[-2:]) == ["answer_logprob", "token_logprobs"]
    for key, row in output.iterrows():
        kept = json.loads(str(kept_by_row[key]))
        tokens = list(row["token_logprobs"])
        assert [(t["token"], t["logprob"], len(t["top_logprobs"])) for t in tokens] == [
            (token, logprob, 2) for token, logprob, _ in kept
        ]
        assert "".join(t["token"] for t in tokens) == row["output_text"]
        assert row["answer_logprob"] == pytest.approx(math.fsum(t["logprob"] for t in tokens), abs=1e-12)
        assert 0 < math.exp(row["answer_logprob"]) <= 1
    export(tmp_path / "state", output=tmp_path / "again.csv")
    again = pd.read_csv(tmp_path / "again.csv").set_index("ticket_id")
    assert again["answer_logprob"].to_dict() == pytest.approx(output["answer_logprob"].to_dict())
    first = json.loads(again["token_logprobs"].iloc[0])
    assert [t["token"] for t in first] == [t["token"] for t in output["token_logprobs"].iloc[0]]


async def test_a_batch_that_asks_for_none_has_no_such_columns(prefect_api: str, tmp_path: Path) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 2)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        result = await run_batch(str(source), **flow_args(tmp_path, emu))
    assert not {"answer_logprob", "token_logprobs"} & set(pd.read_parquet(result.output).columns)
