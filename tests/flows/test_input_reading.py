"""A batch an earlier release planned, resumed by this one: its rows keep the keys and prompts they were
planned with, so none is sent again, though this release reads integer columns with missing values as
integers ("3", where the earlier reading gave "3.0", and another key for a row keyed by its prompt).

The earlier release is this code with its first reading (`READING` patched), and the record it wrote
without a `reading`, as the records of earlier releases are.
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
from rowrelay.tasks.dataset import FIRST_READING, READING, InputSpec, read_prepared
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay
from tests.support.runs import creates_per_row

ROWS = 6
TEMPLATE = "Ticket {n} from {name}"


def _input(path: Path) -> Path:
    """Rows keyed by their prompts (no id column), whose prompts name an integer column with gaps."""
    numbers = pa.array([3, None, 12345678901234567, 4, None, 5], pa.int64())
    pq.write_table(pa.table({"n": numbers, "name": [f"customer {i}" for i in range(ROWS)]}), path)
    return path


def _keys(source: Path, reading: int) -> set[str]:
    keys: list[Any] = read_prepared(source, InputSpec(template=TEMPLATE), reading).keys.to_pylist()
    return set(keys)


def _as_an_earlier_release_recorded_it(state: Path) -> None:
    record = json.loads((state / "run.json").read_text())
    del record["reading"]
    (state / "run.json").write_text(json.dumps(record))


class _Said(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("entry", ["cli, default state directory", "python, given state directory"])
async def test_a_batch_an_earlier_release_planned_is_resumed_with_its_reading_and_nothing_is_paid_twice(
    prefect_api: str,
    prefect_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    entry: str,
) -> None:
    from rowrelay.flows.batch import run_batch

    source = _input(tmp_path / "tickets.parquet")
    first, current = _keys(source, FIRST_READING), _keys(source, READING)
    assert len(first - current) == 4, (
        "four rows' prompts differ between the readings: else this checks nothing"
    )
    states = tmp_path / "states"
    monkeypatch.setenv("ROWRELAY_STATE_DIR", str(states))
    given = None if entry.startswith("cli") else str(tmp_path / "state")
    output = str(tmp_path / "out.parquet")
    args: dict[str, Any] = {"template": TEMPLATE, "output": output, "backend": "emulator"}
    with running_emulator(EmulatorConfig()) as emu:
        with monkeypatch.context() as earlier:
            earlier.setattr(input_reading, "READING", FIRST_READING)
            await run_batch(str(source), **args, state=given, limit=3, base_url=emu.url)
        [state] = states.iterdir() if given is None else [Path(given)]
        _as_an_earlier_release_recorded_it(state)
        assert set(load(state)["row_key"]) == first
        assert sum(creates_per_row(emu).values()) == 3

        if given is None:
            command = ["run", str(source), "--template", TEMPLATE, "--output", output]
            env = env_for(prefect_env, emu, ROWRELAY_STATE_DIR=str(states))
            result = rowrelay(command, env)
            assert result.returncode == 0, result.stderr[-3000:]
            told = result.stderr
        else:
            said = _Said()
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
        assert set(rows["row_key"]) == first
        assert (rows["status"] == "completed").all()
        assert rows["attempts"].tolist() == [1] * ROWS
        assert creates_per_row(emu) == dict.fromkeys(first, 1)  # what the server holds, row by row
        assert "was planned by an earlier release" in told
        assert json.loads((state / "run.json").read_text())["reading"] == FIRST_READING

        exported = tmp_path / "exported.parquet"
        result = rowrelay(["export", str(state), "--output", str(exported)], env_for(prefect_env, emu))
        assert result.returncode == 0, result.stderr[-3000:]
        assert pq.read_table(exported).column("output_text").null_count == 0  # every row found its result

        await run_batch(str(source), **args, state=str(tmp_path / "new"), base_url=emu.url)
    assert set(load(tmp_path / "new")["row_key"]) == current  # a new batch reads the integers as integers
    assert json.loads((tmp_path / "new" / "run.json").read_text())["reading"] == READING


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
