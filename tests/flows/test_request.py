"""`BatchRequest`: one validated, frozen request per run, the same from the CLI, `run_batch` and deploy."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.dataset import prepare, read_input
from rowrelay.tasks.errors import UsageError
from tests.support.tickets import TEMPLATE, write_tickets


def test_overrides_win_over_the_environment_and_parameters_rebuild_the_same_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROWRELAY_RPM", "100")
    monkeypatch.setenv("ROWRELAY_TPM", "5000")
    request = BatchRequest.build(
        tmp_path / "in.csv", template=TEMPLATE, id_column="ticket_id", rpm=3000, mode="stream", model=None
    )
    assert (request.settings.rpm, request.settings.tpm, request.settings.mode) == (3000, 5000, "stream")
    assert request.overrides == {"rpm": 3000, "mode": "stream"}
    parameters = request.parameters()
    assert parameters == {
        "source": str(tmp_path / "in.csv"), "template": TEMPLATE, "id_column": "ticket_id",
        "rpm": 3000, "mode": "stream",
    }  # fmt: skip
    assert BatchRequest.build(**parameters) == request
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.agent = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "sometimes"}, "--mode"),
        ({"rpm": 0}, "--rpm"),
        ({"api_key": "sk-secret"}, "ROWRELAY_API_KEY"),
        ({"template": "{a}", "prompt_column": "b"}, "template"),
        ({"limit": 0}, "--limit"),
        ({"limit": 2.5}, "--limit"),
        ({"limit": True}, "--limit"),
        ({"limit": "3"}, "--limit"),
    ],
)
def test_a_bad_option_is_one_usage_error_naming_it(options: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        BatchRequest.build("in.csv", **{"template": "{a}", **options})  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    assert "sk-secret" not in str(caught.value)


def test_default_state_directory_and_output_follow_the_input(tmp_path: Path) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    request = BatchRequest.build(source, template=TEMPLATE, id_column="ticket_id")
    prepared = prepare(read_input(source), request.spec)
    state = request.state_dir(prepared)
    assert state == request.settings.state_dir / f"tickets-{prepared.fingerprint[:10]}"
    assert request.output_path(state) == request.settings.output_dir / f"{state.name}.parquet"
    assert request.input_path() == str(source.resolve())
    frame = BatchRequest.build(pd.read_csv(source), template=TEMPLATE)
    assert frame.state_dir(prepared).name.startswith("dataframe-")
    assert frame.input_path() is None


def test_a_limit_is_a_whole_number_of_rows_from_python_too() -> None:
    import numpy as np

    assert BatchRequest.build("in.csv", template="{a}", limit=np.int64(20)).limit == 20  # len(), a shape
    assert BatchRequest.build("in.csv", template="{a}", limit=20).parameters()["limit"] == 20


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"temprature": 0.5}, "temprature: no such parameter (did you mean temperature?)"),
        ({"tempalte": "{q}"}, "tempalte: no such parameter (did you mean template?)"),
        ({"api_key": "sk-x"}, "api_key: not a run parameter; set it in the environment (ROWRELAY_API_KEY)"),
    ],
)
def test_a_parameter_no_run_takes_is_named_with_the_nearest_one(
    overrides: dict[str, object], message: str
) -> None:
    """A misspelt keyword was sent to the environment as a variable that does not exist
    (`ROWRELAY_TEMPRATURE`)."""
    with pytest.raises(UsageError) as refused:
        BatchRequest.build(pd.DataFrame({"q": ["a"]}), template="{q}", **overrides)  # type: ignore[arg-type]
    assert str(refused.value) == message


@pytest.mark.parametrize("source", [[{"q": "a"}], pd.Series(["a"]), 3])
def test_an_input_that_is_neither_a_path_nor_a_dataframe_is_named_as_such(source: object) -> None:
    with pytest.raises(UsageError) as refused:
        BatchRequest.build(source, template="{q}")  # type: ignore[arg-type]
    assert str(refused.value) == (
        "the input must be a file's path (CSV, Parquet, JSONL) or a pandas DataFrame (got a "
        f"{type(source).__name__})"
    )


def test_numbers_from_numpy_are_passed_on_as_prefect_can_record_them() -> None:
    """NumPy scalars (a notebook's `frame["n"].max()`) pass the checks as whole numbers or numbers, and
    the request's parameters hold them as Python's: Prefect, which cannot encode a NumPy scalar, recorded
    `dask_workers` and the settings given so as '<int64>' / '<float32>'."""
    import numpy as np

    from rowrelay.flows.batch import run_batch

    request = BatchRequest.build(
        "in.csv", template="{a}", dask_workers=np.int64(2), limit=np.int64(5), rpm=np.int64(300),
        max_attempts=np.int32(2), temperature=np.float32(0.5), give_up_after=np.float64(60),
    )  # fmt: skip
    parameters = request.parameters()
    numbers = ("dask_workers", "limit", "rpm", "max_attempts", "temperature", "give_up_after")
    assert {name: type(parameters[name]) for name in numbers} == {
        "dask_workers": int, "limit": int, "rpm": int, "max_attempts": int, "temperature": float,
        "give_up_after": float,
    }  # fmt: skip
    recorded = run_batch.serialize_parameters(parameters)
    assert {name: recorded[name] for name in numbers} == {
        "dask_workers": 2, "limit": 5, "rpm": 300, "max_attempts": 2, "temperature": 0.5,
        "give_up_after": 60.0,
    }  # fmt: skip
    assert BatchRequest.build(**parameters) == request
    # Given to run_batch itself, as Prefect records a call's own arguments.
    given = {"limit": np.int64(5), "rpm": np.int64(300), "temperature": np.float32(0.5)}
    assert run_batch.serialize_parameters(given) == {"limit": 5, "rpm": 300, "temperature": 0.5}
