"""`run.json`: the run record round-trips, is written atomically, and a damaged one is named."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.errors import DamagedFileError, StateError
from rowrelay.tasks.state import (
    RUN_FILE,
    RunRecord,
    StateTable,
    is_state_directory,
    read_run_record,
    write_run_record,
)
from tests.support.state import FakeClock

RECORD = RunRecord(
    input="/data/tickets.csv",
    spec={
        "template": "Triage: {subject}",
        "prompt_column": None,
        "id_column": "ticket_id",
        "instructions": None,
    },
    output="/data/output/tickets.parquet",
    backend="emulator",
    base_url="http://127.0.0.1:8000/v1",
    model="gpt-4.1-mini",
    mode="poll",
    agent=None,
)


def test_round_trip(tmp_path: Path) -> None:
    path = write_run_record(tmp_path, RECORD)
    assert path == tmp_path / RUN_FILE
    assert read_run_record(tmp_path) == RECORD
    assert [p.name for p in tmp_path.iterdir()] == [RUN_FILE]  # no temp file left behind


def test_rewrite_replaces(tmp_path: Path) -> None:
    write_run_record(tmp_path, RECORD)
    later = dataclasses.replace(RECORD, input=None, mode="stream", agent="pkg.mod:make")
    write_run_record(tmp_path, later)
    assert read_run_record(tmp_path) == later


def test_missing_record_is_none(tmp_path: Path) -> None:
    assert read_run_record(tmp_path) is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"input": "/data/t.csv", "outp', "unreadable run record"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"input": null, "output": "o", "backend": "emulator", "model": "m"}', "no mode"),
        (b'{"output": "o", "backend": 7, "model": "m", "mode": "poll"}', "backend is 7"),
        (b'{"output": "o", "backend": "b", "model": "m", "mode": "poll", "spec": ["x"]}', "spec is"),
    ],
)
def test_damaged_record_is_a_state_error_naming_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / RUN_FILE).write_bytes(content)
    with pytest.raises(StateError, match=reason) as caught:
        read_run_record(tmp_path)
    assert str(tmp_path / RUN_FILE) in str(caught.value)


def test_older_and_newer_records_still_read(tmp_path: Path) -> None:
    older: dict[str, object] = {
        "input": None,
        "spec": {},
        "output": "o",
        "backend": "b",
        "model": "m",
        "mode": "poll",
    }
    (tmp_path / RUN_FILE).write_text(json.dumps({**older, "added_later": 1}))
    record = read_run_record(tmp_path)
    assert record == RunRecord(output="o", backend="b", model="m", mode="poll")


def test_the_record_has_no_field_for_a_secret() -> None:
    names = {field.name for field in dataclasses.fields(RunRecord)}
    # output_schema holds the JSON Schema a structured batch asked for: the user's schema, never a key.
    # endpoints holds the endpoints file's entries, which can name a key's variable but never hold a key
    # (tasks/run/endpoints.py refuses such a field; tests/flows/test_endpoints.py reads every file).
    # azure_endpoint is the Azure resource's URL (AZURE_OPENAI_ENDPOINT), as base_url is the others'.
    # reading is a small integer: how the input file was read (tasks/dataset/reading.py); max_attempts
    # one too, the run's --max-attempts.
    # reasoning_effort, reasoning_summary and image_detail are names from the spec's enums
    # (tasks/settings.py); temperature and logprobs are numbers; unrecorded names fields a record read
    # back lacks, and is never written.
    # left_out holds the keys of rows the run's input did not hold: ids from the input, or hashes of rows.
    # tools holds the API's tool objects; tasks/hosted_tools.py refuses an MCP tool's `authorization`
    # and `headers`, the only tool fields that carry credentials (tests/llm/test_hosted_tools.py).
    # streams_cut holds endpoint names (from the endpoints file) or null (run.cut_streams).
    # orphan_policy is `resubmit` or `hold`; began holds a random token of the run's own, a time, the
    # host's name and a pid; ended a word of RUN_ENDINGS, a time, and the run's own words on its end (a
    # cost cap's line, an error's first line: rowrelay's errors never hold a key).
    # unpriced_said holds what was said to have no price: a provider, a model's and an endpoint's names.
    # prices holds a price file's entries (tasks/llm/prices.py's models forbid other fields): model names,
    # aliases, numbers and their sources' names. state is the batch folder's path, as input and output are.
    names_ = {"input", "spec", "output", "backend", "base_url", "model", "mode", "agent", "output_schema"}
    assert names == {
        *names_,
        "endpoints",
        "azure_endpoint",
        "reasoning_effort",
        "reasoning_summary",
        "image_detail",
        "temperature",
        "logprobs",
        "tools",
        "unrecorded",
        "reading",
        "max_attempts",
        "left_out",
        "streams_cut",
        "orphan_policy",
        "began",
        "ended",
        "unpriced_said",
        "prices",
        "state",
    }


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        *(("logprobs", 0, bad) for bad in ("2", -1, 21, 1.5, True)),  # 0 to 20 alternatives
        *(("reading", 2, bad) for bad in ("2", 0, 1.5, True)),  # how the input was read: 1 or more
        *(("max_attempts", 5, bad) for bad in ("5", 0, 2.5, True)),  # the run's --max-attempts: 1 or more
    ],
)
def test_a_numbered_field_round_trips_and_a_damaged_one_is_named(
    tmp_path: Path, field: str, good: int, bad: object
) -> None:
    given: dict[str, Any] = {field: good}
    record = RunRecord(output="o", backend="b", model="m", mode="poll", **given)
    write_run_record(tmp_path, record)
    assert read_run_record(tmp_path) == record
    (tmp_path / RUN_FILE).write_text(json.dumps({**dataclasses.asdict(record), field: bad}))
    with pytest.raises(DamagedFileError, match=f"{field} is {bad!r}"):
        read_run_record(tmp_path)


def test_a_batchs_endpoints_round_trip_and_damaged_ones_are_named(tmp_path: Path) -> None:
    entries = [{"name": "east", "base_url": "http://e/v1", "api_key_env": "EAST_KEY", "rpm": 60}]
    record = RunRecord(output="o", backend="openai", model="m", mode="poll", endpoints=entries)
    write_run_record(tmp_path, record)
    assert read_run_record(tmp_path) == record
    (tmp_path / RUN_FILE).write_text(json.dumps({**dataclasses.asdict(record), "endpoints": ["east"]}))
    with pytest.raises(DamagedFileError, match=r"endpoints is \['east'\]"):
        read_run_record(tmp_path)


def test_a_structured_batchs_schema_round_trips_and_a_damaged_one_is_named(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    record = RunRecord(output="o", backend="b", model="m", mode="poll", output_schema=schema)
    write_run_record(tmp_path, record)
    assert read_run_record(tmp_path) == record
    (tmp_path / RUN_FILE).write_text(json.dumps({**dataclasses.asdict(record), "output_schema": "x.json"}))
    with pytest.raises(DamagedFileError, match=r"output_schema is 'x\.json'"):
        read_run_record(tmp_path)


def test_a_state_directory_is_one_holding_batch_json(tmp_path: Path, clock: FakeClock) -> None:
    assert not is_state_directory(tmp_path / "b1")
    StateTable.open(tmp_path / "b1", batch_id="b1", clock=clock).close()
    assert is_state_directory(tmp_path / "b1")
    (tmp_path / "other").mkdir()
    write_run_record(tmp_path / "other", RECORD)
    assert not is_state_directory(tmp_path / "other")  # a run record alone does not make one


@pytest.mark.parametrize("bad", ["T-00001", ["T-00001", 2], {"T-00001": 1}])
def test_the_rows_left_out_round_trip_and_damaged_ones_are_named(tmp_path: Path, bad: object) -> None:
    """The keys of rows the run's input did not hold (`tasks.state.left_out`); absent from records of
    earlier releases, which read as none noted."""
    record = RunRecord(output="o", backend="b", model="m", mode="poll", left_out=["T-00001", "T-00007"])
    write_run_record(tmp_path, record)
    assert read_run_record(tmp_path) == record
    (tmp_path / RUN_FILE).write_text(json.dumps({**dataclasses.asdict(record), "left_out": bad}))
    with pytest.raises(DamagedFileError, match="left_out is"):
        read_run_record(tmp_path)


@pytest.mark.parametrize("bad", ["held", 1, ""])
def test_the_orphan_policy_round_trips_and_a_damaged_one_is_named(tmp_path: Path, bad: object) -> None:
    """A record of an older release, without it, reads as None (the shell's policy then decides), never
    as damage (test_older_and_newer_records_still_read); a malformed one is a damaged record, named."""
    record = RunRecord(output="o", backend="b", model="m", mode="poll", orphan_policy="hold")
    write_run_record(tmp_path, record)
    assert read_run_record(tmp_path) == record
    (tmp_path / RUN_FILE).write_text(json.dumps({**dataclasses.asdict(record), "orphan_policy": bad}))
    with pytest.raises(DamagedFileError, match="damaged run record \\(orphan_policy is "):
        read_run_record(tmp_path)


BEGAN = {"id": "0123456789abcdef", "at": "2026-12-07T03:00:00+00:00", "host": "h", "pid": 42}
ENDED = {"how": "capped", "at": "2026-12-07T03:05:00+00:00", "why": "cost cap reached: ..."}


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        *(("began", BEGAN, bad) for bad in ("now", {**BEGAN, "pid": "42"}, {"id": "x"})),
        *(("ended", ENDED, bad) for bad in ({**ENDED, "how": "exploded"}, {**ENDED, "why": 3}, [ENDED])),
    ],
)
def test_how_a_run_began_and_ended_round_trips_and_a_damaged_mark_is_named(
    tmp_path: Path, field: str, good: object, bad: object
) -> None:
    """A record of an older release, without them, reads as not recorded (`unrecorded`), never as damage
    (test_older_and_newer_records_still_read); a malformed one is a damaged record, named."""
    given: dict[str, Any] = {field: good}
    record = RunRecord(output="o", backend="b", model="m", mode="poll", **given)
    write_run_record(tmp_path, record)
    assert read_run_record(tmp_path) == record
    (tmp_path / RUN_FILE).write_text(json.dumps({**dataclasses.asdict(record), field: bad}))
    with pytest.raises(DamagedFileError, match=f"damaged run record \\({field} is "):
        read_run_record(tmp_path)
