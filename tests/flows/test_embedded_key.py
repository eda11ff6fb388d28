"""The embedded emulator told to require a key (`ROWRELAY_EMULATOR_ARGS="--api-key K"`, its documented
option) is sent that key, by a run and by `rowrelay cancel`, and never the run's own OPENAI_API_KEY: a
real key must not reach a local test server, and sent in place of K it was refused, so every create of
the run was a 401 and the run stopped (BackendRefusedError)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rowrelay.flows.backends import resolve_backend
from rowrelay.flows.cancelling import cancel_batch_async
from rowrelay.flows.embedded import ensure_emulator, stop_emulator
from rowrelay.flows.emulator_records import emulator_record
from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.embedded_key import embedded_key
from rowrelay.tasks.llm import RowRequest, make_backend
from rowrelay.tasks.run import Cancelled
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import RunRecord, StateTable, load, write_run_record
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.key_echo import SECRET
from tests.support.tickets import TEMPLATE, write_tickets

EMULATOR_KEY = "emulator-only-key"
ARGS = f"--api-key {EMULATOR_KEY} --latency fixed:0 --seed 7"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A rowrelay home of the test's own, the real key set beside the emulator's options."""
    home = tmp_path / "home"
    monkeypatch.setenv("ROWRELAY_HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    yield home
    stop_emulator(home)


def test_the_key_is_the_last_api_key_among_the_emulators_options() -> None:
    assert embedded_key("--latency fixed:0") is None  # it checks none: the client sends its own
    for args in ("--api-key K", "--seed 1 --api-key=K", "--api-key X --api-key K", "--api-key 'K'"):
        key = embedded_key(args)
        assert key is not None
        assert key.get_secret_value() == "K", args


@pytest.mark.timeout(180)
@pytest.mark.parametrize("dask_workers", [None, 1])
async def test_a_run_on_an_embedded_emulator_requiring_a_key_sends_it_and_completes(
    prefect_api: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_workers: int | None
) -> None:
    """On a Dask worker too, whose shards read their keys from the worker's environment: they sent it
    OPENAI_API_KEY, refused (401), and the real key reached the local test server."""
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv("ROWRELAY_EMULATOR_ARGS", ARGS)
    source = write_tickets(tmp_path / "tickets.csv", 6)
    state = tmp_path / "state"
    result = await run_batch(
        str(source), template=TEMPLATE, id_column="ticket_id", backend="emulator", state=str(state),
        output=str(tmp_path / "out.csv"), dask_workers=dask_workers,
    )  # fmt: skip
    assert result.all_completed, result.run_counts
    record = emulator_record(home)
    assert record is not None
    assert record["args"] == ARGS
    jobs, unanswered = jobs_of(record["url"])
    frame = load(state)
    assert sorted(jobs) == sorted(frame["row_key"])  # every row sent, one job each
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    async with httpx.AsyncClient(timeout=5) as http:
        refused = await http.get(f"{record['url']}/models", headers={"Authorization": f"Bearer {SECRET}"})
    assert refused.status_code == 401  # the emulator did require its own key: the run sent that one


@pytest.mark.timeout(120)
async def test_cancel_reaches_a_batch_on_an_embedded_emulator_requiring_a_key(
    home: Path, tmp_path: Path
) -> None:
    """`rowrelay cancel` finds the server by the URL run.json recorded: an embedded emulator's is sent its
    own key, as the run's creates were (OPENAI_API_KEY was sent, refused: nothing cancelled)."""
    args = f"--api-key {EMULATOR_KEY} --latency fixed:60"
    url, _ = ensure_emulator(home, args)
    resolved, reused = resolve_backend(Settings(backend="emulator", emulator_args=args))
    # Reused: answering a keyless look 401, it was taken for hung, stopped and started again.
    assert reused == url
    assert resolved.api_key is not None
    assert resolved.api_key.get_secret_value() == EMULATOR_KEY
    state = tmp_path / "state"
    with StateTable.open(state) as table:
        await _created_in_flight(table, resolved, url, rows=3)
    write_run_record(
        state, RunRecord(output=str(tmp_path / "out.csv"), backend="emulator", base_url=url,
                         model="gpt-4.1-mini", mode="poll"),
    )  # fmt: skip
    assert await cancel_batch_async(state) == Cancelled(3)
    assert set(load(state)["status"]) == {"cancelled"}
    jobs, unanswered = jobs_of(url)
    frame = load(state)
    assert sorted(jobs) == sorted(frame["row_key"])
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    async with httpx.AsyncClient(timeout=5) as http:
        listing = (await http.get(f"{url.removesuffix('/v1')}/emulator/responses")).json()["data"]
    assert {response["status"] for response in listing} == {"cancelled"}, json.dumps(listing)[:2000]


async def _created_in_flight(table: StateTable, settings: Settings, url: str, rows: int) -> None:
    """`rows` tickets planned and created on the emulator at `url` with the run's settings (its key), each
    row holding its response id: a run stopped with every row in flight."""
    prepared = prepare(
        read_input(write_tickets(table.directory.parent / "tickets.csv", rows)),
        InputSpec(TEMPLATE, None, "ticket_id", None),
    )
    table.add_pending(prepared.planned())
    backend = make_backend(settings, base_url=url)
    try:
        for key in map(str, prepared.planned().column("row_key").to_pylist()):
            request = RowRequest(key, prepared.prompt(key), None, settings.model, {"rowrelay_row": key})
            created = await backend.create(request)
            table.transition(key, "submitting", attempts=1)
            table.transition(key, created.status, response_id=created.response_id)
    finally:
        await backend.aclose()
    table.flush()
