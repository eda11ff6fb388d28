"""Which resumes on another server go ahead: the refusals themselves are run as a user meets them, in a
process, by tests/flows/test_usage_errors.py."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from rowrelay.flows.request import BatchRequest
from rowrelay.flows.same_server import check_same_requests, check_same_server
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import read_table
from rowrelay.tasks.state.run_record import RunRecord
from tests.support.last_run import ran_on
from tests.support.tickets import TEMPLATE


@pytest.fixture(autouse=True)
def nothing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ROWRELAY_API_KEY",
        "ROWRELAY_BASE_URL",
        "ROWRELAY_BACKEND",
        "AZURE_OPENAI_ENDPOINT",
        "ROWRELAY_AZURE_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)


def _check(state: Path, backend: str | None = None, base_url: str | None = None) -> RunRecord | None:
    """The check of a run whose input holds the batch's rows, no more."""
    request = BatchRequest.build("in.csv", template=TEMPLATE, backend=backend, base_url=base_url)
    return check_same_server(request, state, read_table(state)[0].column("row_key").combine_chunks())


def test_a_batch_with_nothing_left_to_send_may_run_anywhere_and_keeps_its_server_on_record(
    tmp_path: Path,
) -> None:
    """Such a run sends nothing (it writes the output again): no answer of another server joins them. The
    record it writes keeps the server that answered (returned for the run to record)."""
    state = tmp_path / "state"
    ran_on(state, tmp_path / "out.csv", "openai", "http://127.0.0.1:9/v1", ["completed", "completed"])
    kept = _check(state)  # the embedded emulator, by default
    assert kept is not None
    assert (kept.backend, kept.base_url) == ("openai", "http://127.0.0.1:9/v1")
    assert _check(state, backend="openai", base_url="http://127.0.0.1:9/v1") is None  # its own server
    ran_on(state, tmp_path / "out.csv", "emulator", None, [])
    kept = _check(state, base_url="http://127.0.0.1:10/v1", backend="openai")
    assert kept is not None
    assert kept.backend == "emulator"


def test_the_emulator_when_asked_for_and_the_same_server_by_another_spelling_go_ahead(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ran_on(state, tmp_path / "out.csv", "openai", "http://127.0.0.1:9/v1/", ["completed", "pending"])
    _check(state, backend="emulator")
    _check(state, backend="openai", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(UsageError, match="would use the embedded emulator"):
        _check(state)


def test_emulators_are_one_server_whatever_their_address(tmp_path: Path) -> None:
    """An emulator's ids die with it: a row holding one is resumed (and created again) at no cost."""
    state = tmp_path / "state"
    ran_on(state, tmp_path / "out.csv", "emulator", "http://127.0.0.1:9/v1", ["queued", "completed"])
    _check(state)
    _check(state, backend="emulator", base_url="http://127.0.0.1:10/v1")


def test_an_azure_batch_resumes_on_its_own_resource_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Response ids of one Azure resource are unknown to another: resumed there, the rows holding them
    would be created and paid for again. The base URL is not where an Azure run names its resource."""
    state, east = tmp_path / "state", "https://east.openai.azure.com/"
    ran_on(state, tmp_path / "out.csv", "azure", None, ["queued", "pending"], azure_endpoint=east)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://east.openai.azure.com")
    _check(state, backend="azure")  # the same resource, spelled without the slash
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://west.openai.azure.com")
    with pytest.raises(UsageError, match="1 row holds a response id from azure at https://east") as caught:
        _check(state, backend="azure")
    assert "azure at https://west.openai.azure.com, which does not know them" in str(caught.value)
    # A record of an older release names no resource: which one is not known, so the run goes ahead.
    ran_on(state, tmp_path / "out.csv", "azure", None, [])
    _check(state, backend="azure")


def test_an_unreadable_run_record_is_refused_in_one_line_naming_it_and_the_repair(tmp_path: Path) -> None:
    """It rose as a traceback (exit 1), or, served warm, as exit 0."""
    state = tmp_path / "state"
    ran_on(state, tmp_path / "out.csv", "openai", None, ["queued", "pending"])
    (state / "run.json").write_text('{"backend": "openai", "base_u')
    with pytest.raises(UsageError) as refused:
        _check(state)
    said = str(refused.value)
    assert said.startswith(f"{state / 'run.json'}: unreadable run record (")
    assert said.endswith(
        f"run `rowrelay repair {state}` to move damaged files aside (`--dry-run` first shows which rows "
        "fall back to what)"
    )
    assert "\n" not in said


def test_rows_holding_ids_with_no_run_record_to_name_their_server_are_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Once `repair` set an unreadable run.json aside (or for a batch an earlier release began), the
    check had nothing to compare and let a run on another server create every such row again, silently."""
    state = tmp_path / "state"
    ran_on(
        state, tmp_path / "out.csv", "openai", "http://127.0.0.1:9/v1", ["queued", "in_progress", "pending"]
    )
    (state / "run.json").unlink()
    with caplog.at_level(logging.WARNING, logger="rowrelay"):
        _check(state, backend="openai", base_url="http://127.0.0.1:10/v1")
    assert [r.getMessage() for r in caplog.records] == [
        f"{state}: 2 rows hold response ids, and the batch has no run.json to say which server made them "
        "(a batch an earlier release began, or one whose record `rowrelay repair` set aside): they are "
        "collected only if this run's server, openai at http://127.0.0.1:10/v1, made them; on any other "
        "each is created and paid for again"
    ]
    caplog.clear()
    ran_on(tmp_path / "sent", tmp_path / "out.csv", "openai", None, ["completed", "pending"])
    (tmp_path / "sent" / "run.json").unlink()
    with caplog.at_level(logging.WARNING, logger="rowrelay"):
        _check(tmp_path / "sent", backend="openai", base_url="http://127.0.0.1:10/v1")
    assert not caplog.records, "no row holds an id: nothing of the last server's to lose"


def _ran_on_endpoints(state: Path, tmp_path: Path, backends: list[str], statuses: list[str]) -> None:
    """A batch whose last run spread its rows over endpoints `a`, `b`, ... of these backends."""
    from rowrelay.tasks.state import read_run_record, write_run_record

    ran_on(state, tmp_path / "out.csv", "emulator", None, statuses, model="gpt-4.1-mini")
    entries = [
        {"name": chr(ord("a") + i), "backend": backend, "base_url": f"http://127.0.0.1:{9 + i}/v1"}
        for i, backend in enumerate(backends)
    ]
    entries[-1]["model"] = "gpt-4.1"
    record = read_run_record(state)
    assert record is not None
    write_run_record(state, dataclasses.replace(record, endpoints=entries))


def test_a_batch_run_over_endpoints_does_not_fall_back_to_the_emulator_when_resumed_without_them(
    tmp_path: Path,
) -> None:
    """The endpoints' record turned both checks off: resumed without its file, a real batch finished on the
    embedded emulator (exit 0), emulated answers beside real ones, even at another --model."""
    state = tmp_path / "state"
    _ran_on_endpoints(state, tmp_path, ["openai", "azure"], ["completed", "pending"])
    with pytest.raises(UsageError) as refused:
        _check(state)
    assert str(refused.value) == (
        f"{state}: the batch last ran on its endpoints (a, b), and with no API key or base URL configured "
        "this run would use the embedded emulator, mixing emulated answers into its output: run it with "
        "its --endpoints again, or pass --backend emulator to mean it"
    )
    _check(state, backend="emulator")  # meant
    _check(state, backend="openai", base_url="http://127.0.0.1:9/v1")  # endpoint a's server


def test_a_batch_run_over_endpoints_is_not_resumed_at_a_model_none_of_them_ran(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _ran_on_endpoints(state, tmp_path, ["openai", "openai"], ["completed", "pending"])
    request = BatchRequest.build("in.csv", template=TEMPLATE, backend="emulator", model="o4-mini")
    keys = read_table(state)[0].column("row_key").combine_chunks()
    with pytest.raises(UsageError, match=r"--model o4-mini \(it ran --model gpt-4\.1 or gpt-4\.1-mini\)"):
        check_same_requests(request, state, keys)
    for model in ("gpt-4.1", "gpt-4.1-mini"):  # each endpoint's own
        check_same_requests(BatchRequest.build("in.csv", template=TEMPLATE, model=model), state, keys)
