"""`load` gives a batch's rows in its input's order, as the output is written, after the input was
reordered between runs: sorted by the `row_index` each row got when first planned, a trial's batch read
as the old and new orders interleaved (`d a b c e`, where the output said `d c b e a`). Rows the input no
longer holds follow. Through `run_batch` on a real Prefect API and the emulator over a real socket."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import load
from rowrelay.tasks.state.input_order import ORDER_FILE
from tests.support.duplicates import jobs_of

TEXTS = {"a": "alpha", "b": "beta", "c": "gamma", "d": "delta", "e": "epsilon"}


def _write(path: Path, ids: str) -> None:
    pd.DataFrame({"id": list(ids), "text": [TEXTS[i] for i in ids]}).to_csv(path, index=False)


async def test_load_follows_the_reordered_input_as_the_output_does(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: RunningEmulator
) -> None:
    from rowrelay.flows.batch import run_batch

    source, output, state = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "state"
    monkeypatch.chdir(tmp_path)
    arguments = {
        "template": "Echo: {text}", "id_column": "id", "state": state, "output": output,
        "backend": "emulator", "base_url": emulator.url,
    }  # fmt: skip
    _write(source, "abc")
    await run_batch(str(source), **arguments)
    assert load(state)["row_key"].tolist() == ["a", "b", "c"]
    assert not (state / ORDER_FILE).exists()  # in the order it was planned in: nothing to note

    _write(source, "dceab")  # reordered, with rows put in front and between
    await run_batch(str(source), **arguments)
    assert pd.read_csv(output)["id"].tolist() == list("dceab")
    rows = load(state)
    assert rows["row_key"].tolist() == list("dceab")  # was d a b c e: row_index 0 0 1 2 3
    assert rows.index.tolist() == list(range(5))
    assert (rows["status"] == "completed").all()
    assert dict(jobs_of(emulator.url)[0]) == dict.fromkeys("abcde", 1)  # nothing sent again

    _write(source, "ead")  # b and c removed: they follow, by row_index
    await run_batch(str(source), **arguments)
    assert pd.read_csv(output)["id"].tolist() == list("ead")
    assert load(state)["row_key"].tolist() == list("eadbc")
