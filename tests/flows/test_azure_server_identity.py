"""An Azure batch is the batch of its Azure endpoint, whatever base URL is set beside it.

The Azure client sends every request to AZURE_OPENAI_ENDPOINT and never to a base URL. A leftover
OPENAI_BASE_URL used to be recorded in run.json as the batch's server and compared as this run's: every
Azure resource was then one server, so a batch resumed on another resource sent its rows again (the first
resource's jobs, paid for, never collected); and a shell without the variable was refused on the batch's
own resource, for a URL never contacted. Two emulators stand for two Azure resources, reached by the
SDK's Azure client over real sockets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.flows.request import BatchRequest
from rowrelay.flows.run_record import record_run
from rowrelay.flows.same_server import check_same_server
from rowrelay.flows.targets import resolve_targets
from rowrelay.tasks.emulator import RunningEmulator, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm import RowRequest, make_backend
from rowrelay.tasks.state import StateTable, load, read_run_record, read_table
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.last_run import ran_on
from tests.support.tickets import TEMPLATE, write_tickets

ROWS = 4
STRAY = "http://127.0.0.1:18120/v1"
"""A base URL left in the shell for some other OpenAI tool: nothing of the test's listens there."""
DEPLOYMENT = "dep1"


@pytest.fixture(autouse=True)
def _clean_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY", "OPENAI_BASE_URL", "ROWRELAY_API_KEY", "ROWRELAY_BASE_URL", "ROWRELAY_BACKEND",
        "AZURE_OPENAI_ENDPOINT", "ROWRELAY_AZURE_ENDPOINT", "AZURE_OPENAI_API_KEY", "ROWRELAY_AZURE_API_KEY",
        "ROWRELAY_AZURE_AUTH", "ROWRELAY_MODEL",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-of-the-test")


def _on_resource(monkeypatch: pytest.MonkeyPatch, resource: RunningEmulator) -> str:
    """Point AZURE_OPENAI_ENDPOINT at `resource` (an emulator standing for an Azure resource)."""
    endpoint = resource.url.removesuffix("/v1")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    return endpoint


def _stray_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", STRAY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-for-another-tool-0123456789")


def _request(tmp_path: Path, base_url: str | None = None) -> BatchRequest:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    return BatchRequest.build(
        source, template=TEMPLATE, id_column="ticket_id", state=tmp_path / "state",
        output=tmp_path / "out.csv", backend="azure", model=DEPLOYMENT, base_url=base_url,
    )  # fmt: skip


async def _killed_with_rows_queued(request: BatchRequest, state: Path) -> None:
    """What a run killed (-9) with every row queued leaves: run.json recorded as a run records it before
    it sends anything, and each row's create sent by the run's own Azure backend, its id checkpointed."""
    settings, url, targets = resolve_targets(request)
    backend = make_backend(settings, base_url=url)
    keys = [f"T-{i:05d}" for i in range(ROWS)]
    try:
        with StateTable.open(state) as table:
            record_run(state, request, request.output_path(state), settings, url, targets, reading=1)
            table.add_pending((key, i, f"hash {i}") for i, key in enumerate(keys))
            for key in keys:
                table.transition(key, "submitting", attempts=1)
                asked = RowRequest(key, f"Ticket {key}", None, DEPLOYMENT, {"rowrelay_row": key})
                created = await backend.create(asked)
                table.transition(key, created.status, response_id=created.response_id)
    finally:
        await backend.aclose()


def _check(request: BatchRequest, state: Path) -> None:
    check_same_server(request, state, read_table(state)[0].column("row_key").combine_chunks())


async def test_a_stray_base_url_does_not_let_a_batch_resume_on_another_azure_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    with running_emulator() as resource_a, running_emulator() as resource_b:
        _stray_variables(monkeypatch)
        endpoint_a = _on_resource(monkeypatch, resource_a)
        await _killed_with_rows_queued(_request(tmp_path), state)
        _on_resource(monkeypatch, resource_b)  # the next day, another resource; the stray variable kept
        with pytest.raises(UsageError, match=f"{ROWS} rows hold response ids from azure at {endpoint_a},"):
            _check(_request(tmp_path), state)

        jobs_a, unanswered_a = jobs_of(resource_a.url)
        assert sum(jobs_a.values()) == ROWS
        assert_every_job_is_paid_for(load(state), jobs_a, unanswered_a)
        assert jobs_of(resource_b.url)[0] == {}  # nothing sent, nothing paid a second time

        _on_resource(monkeypatch, resource_a)  # the batch's own resource goes ahead
        _check(_request(tmp_path), state)
        recorded = read_run_record(state)
        assert recorded is not None
        assert (recorded.base_url, recorded.azure_endpoint) == (None, endpoint_a)  # where it went alone


def test_a_batch_recorded_with_a_stray_base_url_resumes_on_its_resource_in_a_clean_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run.json of an earlier release holds the stray base URL beside the endpoint: the endpoint is
    where its rows' ids live, with or without the variable in this shell; another resource is refused."""
    state, east = tmp_path / "state", "https://east.openai.azure.com"
    ran_on(state, tmp_path / "out.csv", "azure", STRAY, ["queued", "pending"], azure_endpoint=east)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", east)
    _check(_request(tmp_path), state)  # refused as "from azure at http://127.0.0.1:18120/v1"
    _stray_variables(monkeypatch)
    _check(_request(tmp_path), state)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://west.openai.azure.com")
    with pytest.raises(UsageError, match=f"1 row holds a response id from azure at {east},"):
        _check(_request(tmp_path), state)


def test_a_base_url_given_to_an_azure_run_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Azure client would never use it: given as rowrelay's option it was meant, so it is refused
    rather than recorded as where the batch ran; from OPENAI_BASE_URL alone it is ignored."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://east.openai.azure.com")
    said = "the azure backend sends every request to AZURE_OPENAI_ENDPOINT, never to a base URL"
    with pytest.raises(UsageError, match=f"^--base-url: {said}"):
        _request(tmp_path, base_url="http://127.0.0.1:9/v1")
    monkeypatch.setenv("ROWRELAY_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(UsageError, match=f"^ROWRELAY_BASE_URL: {said}"):
        _request(tmp_path)
    monkeypatch.delenv("ROWRELAY_BASE_URL")
    _stray_variables(monkeypatch)
    settings, url, _ = resolve_targets(_request(tmp_path))
    assert (settings.backend, settings.base_url, url) == ("azure", None, None)
