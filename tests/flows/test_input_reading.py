"""A batch an earlier release planned, resumed by this one: its rows keep the keys and prompts they were
planned with, so none is sent again, though this release reads integers with missing values as integers
("3", where an earlier reading gave "3.0", and another key for a row keyed by its prompt): reading 2 those
of an integer column, reading 3 those inside a Parquet list too; and a Parquet map as a JSON object
(`{"a": 1}`, where readings before 4 gave `[["a", 1]]`).

The earlier release is this code with its reading (`READING` patched), and the record it wrote: without a
`reading` for the first, as the records of the releases before reading 2 are; with it for reading 2.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rowrelay.flows import input_reading
from rowrelay.tasks.dataset import EARLIER_READINGS, FIRST_READING, READING, InputSpec, read_prepared
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay
from tests.support.runs import creates_per_row
from tests.support.said import Said

ROWS = 6
TEMPLATE = "Ticket {n} from {name}: {items} {extra}"
CHANGED = {FIRST_READING: 6, 2: 4, 3: 1}
"""How many rows' prompts each earlier reading gives otherwise than this release's. Reading 4 reads a
file as reading 5 does (it differs in DataFrames alone: tests/flows/test_arrow_nested_prompts.py)."""


def _input(path: Path) -> Path:
    """Rows keyed by their prompts (no id column), whose prompts name an integer column with gaps, a
    list of integers with a gap (pandas made all of that list column's integers floats) and, in the first
    row, a map (a list of pairs before reading 4)."""
    numbers = pa.array([3, None, 12345678901234567, 4, None, 5], pa.int64())
    items = pa.array([[1, None], [2], None, [12345678901234567], [7, 8], None], pa.list_(pa.int64()))
    names = [f"customer {i}" for i in range(ROWS)]
    extra = pa.array([[("a", "b")], *[None] * (ROWS - 1)], pa.map_(pa.string(), pa.string()))
    pq.write_table(pa.table({"n": numbers, "name": names, "items": items, "extra": extra}), path)
    return path


def _keys(source: Path, reading: int) -> set[str]:
    keys: list[Any] = read_prepared(source, InputSpec(template=TEMPLATE), reading).keys.to_pylist()
    return set(keys)


def _as_an_earlier_release_recorded_it(state: Path) -> None:
    record = json.loads((state / "run.json").read_text())
    del record["reading"]
    (state / "run.json").write_text(json.dumps(record))


@pytest.mark.parametrize("reading", sorted(CHANGED))  # the readings that read this file otherwise
@pytest.mark.parametrize("entry", ["cli, default state directory", "python, given state directory"])
async def test_a_batch_an_earlier_release_planned_is_resumed_with_its_reading_and_nothing_is_paid_twice(
    prefect_api: str,
    prefect_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    entry: str,
    reading: int,
) -> None:
    from rowrelay.flows.batch import run_batch

    source = _input(tmp_path / "tickets.parquet")
    planned, current = _keys(source, reading), _keys(source, READING)
    assert len(planned - current) == CHANGED[reading], (
        "rows' prompts differ between the readings: else this checks nothing"
    )
    states = tmp_path / "states"
    monkeypatch.setenv("ROWRELAY_STATE_DIR", str(states))
    given = None if entry.startswith("cli") else str(tmp_path / "state")
    output = str(tmp_path / "out.parquet")
    args: dict[str, Any] = {"template": TEMPLATE, "output": output, "backend": "emulator"}
    with running_emulator(EmulatorConfig()) as emu:
        with monkeypatch.context() as earlier:
            earlier.setattr(input_reading, "READING", reading)
            await run_batch(str(source), **args, state=given, limit=3, base_url=emu.url)
        [state] = states.iterdir() if given is None else [Path(given)]
        assert json.loads((state / "run.json").read_text())["reading"] == reading
        if reading == FIRST_READING:
            _as_an_earlier_release_recorded_it(state)
        assert set(load(state)["row_key"]) == planned
        assert sum(creates_per_row(emu).values()) == 3

        if given is None:
            command = ["run", str(source), "--template", TEMPLATE, "--output", output]
            env = env_for(prefect_env, emu, ROWRELAY_STATE_DIR=str(states))
            result = rowrelay(command, env)
            assert result.returncode == 0, result.stderr[-3000:]
            told = result.stderr
        else:
            said = Said()
            logging.getLogger("rowrelay.input").addHandler(said)  # Prefect's logging setup drops caplog's
            try:
                await run_batch(str(source), **args, state=given, base_url=emu.url)
            finally:
                logging.getLogger("rowrelay.input").removeHandler(said)
            told = " ".join(said.messages)
        if given is None:
            assert list(states.iterdir()) == [state]  # no second batch beside it
        else:
            assert not states.exists()
        rows = load(state)
        assert set(rows["row_key"]) == planned
        assert (rows["status"] == "completed").all()
        assert rows["attempts"].tolist() == [1] * ROWS
        assert creates_per_row(emu) == dict.fromkeys(planned, 1)  # what the server holds, row by row
        assert f"was planned by an earlier release, which read {EARLIER_READINGS[reading]}" in told
        assert json.loads((state / "run.json").read_text())["reading"] == reading
        kept = pa.float64() if reading < 3 else pa.int64()  # as it was planned
        assert pq.read_schema(output).field("items").type == pa.list_(kept)

        exported = tmp_path / "exported.parquet"
        result = rowrelay(["export", str(state), "--output", str(exported)], env_for(prefect_env, emu))
        assert result.returncode == 0, result.stderr[-3000:]
        assert pq.read_table(exported).column("output_text").null_count == 0  # every row found its result

        await run_batch(str(source), **args, state=str(tmp_path / "new"), base_url=emu.url)
    assert set(load(tmp_path / "new")["row_key"]) == current  # a new batch reads the integers as integers
    assert json.loads((tmp_path / "new" / "run.json").read_text())["reading"] == READING
    written = pq.read_table(output)
    assert written.schema.field("items").type == pa.list_(pa.int64())
    assert written.column("items").to_pylist()[3] == [12345678901234567]


def test_a_batch_a_later_release_planned_is_refused_in_one_line(tmp_path: Path) -> None:
    """A later release may read the input otherwise: this one would plan its rows again, so it says so."""
    from rowrelay.tasks.errors import UsageError
    from rowrelay.tasks.state import RunRecord, write_run_record

    write_run_record(
        tmp_path, RunRecord(output="o", backend="emulator", model="m", mode="poll", reading=READING + 1)
    )
    with pytest.raises(
        UsageError, match=f"planned by a later release of rowrelay \\(its input reading {READING + 1}"
    ):
        input_reading.recorded_reading(tmp_path)
    write_run_record(tmp_path, RunRecord(output="o", backend="emulator", model="m", mode="poll"))
    assert input_reading.recorded_reading(tmp_path) == FIRST_READING
    assert input_reading.recorded_reading(tmp_path / "never-ran") == READING


def _lines(path: Path) -> Path:
    first = '{"n": 1, "name": "a", "items": [1, null], "extra": {"a": "b"}}'
    path.write_text(first + '\n{"n": 2, "name": "b", "items": null}\n')
    return path


def _strings(path: Path) -> Path:
    names = pa.array([["a", None], None], pa.list_(pa.string()))
    extra = ["x", None]
    pq.write_table(
        pa.table({"n": pa.array([1, 2], pa.int64()), "name": ["a", "b"], "items": names, "extra": extra}),
        path,
    )
    return path


@pytest.mark.parametrize(
    ("make", "state", "reads"),
    [
        (_strings, None, [READING]),  # no integer with a gap, in a column or a list
        (_lines, None, [READING]),  # JSON's nested integers were Python's in every reading
        (_input, "of this release", [READING]),  # the given state's record says this release's reading
        (
            _input,
            None,
            [READING, *sorted(CHANGED, reverse=True)],
        ),  # a new batch: any earlier one's? (not 4's)
        (_input, "of reading 2", [READING, 2]),  # the given state's record alone decides
    ],
)
def test_the_input_is_read_again_only_for_a_reading_that_may_read_it_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any, state: str | None, reads: list[int]
) -> None:
    from rowrelay.flows.request import BatchRequest
    from rowrelay.tasks.state import RunRecord, write_run_record

    monkeypatch.setenv("ROWRELAY_STATE_DIR", str(tmp_path / "states"))
    source = make(tmp_path / ("in.jsonl" if make is _lines else "in.parquet"))
    given = None if state is None else tmp_path / "state"
    if given is not None:
        given.mkdir()
        recorded = READING if state == "of this release" else 2
        write_run_record(
            given, RunRecord(output="o", backend="emulator", model="m", mode="poll", reading=recorded)
        )
    request = BatchRequest.build(source, template=TEMPLATE, state=given)
    asked: list[int] = []

    def read(reading: int) -> Any:
        asked.append(reading)
        return read_prepared(source, request.spec, reading)

    prepared = input_reading.prepared_for(request, read)
    assert asked == reads
    assert prepared.reading == READING  # no batch was planned there (no batch.json): none to resume
