"""Network faults: the job starts and runs to its end, and only its answer is lost. For each, what the
official SDK raises, that the job is in /emulator/jobs and finishes, and whether its create was answered."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import httpx2
import openai
import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.support.events import TERMINAL_EVENTS, response_of
from tests.support.inspection import eventually, finished_job, inspect, jobs, stats
from tests.support.sse import ClientFactory, raw_sse

Create = Literal["responses", "responses-stream", "chat"]
CREATES: tuple[Create, ...] = ("responses", "responses-stream", "chat")
TITLES = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out"}


async def create(client: AsyncOpenAI, how: Create, fault: str | None = None, prompt: str = "hi") -> None:
    """One create of the given kind, its stream read to the end."""
    headers = {"x-emulator-fault": fault} if fault else {}
    if how == "chat":
        await client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": prompt}], extra_headers=headers
        )
    elif how == "responses":
        await client.responses.create(model="gpt-4.1", input=prompt, background=True, extra_headers=headers)
    else:
        stream = await client.responses.create(
            model="gpt-4.1", input=prompt, background=True, stream=True, extra_headers=headers
        )
        [event async for event in stream]


async def the_job(emu: RunningEmulator, fault: str | None) -> dict[str, Any]:
    """The one job the test started, once finished: it ran although its answer was lost."""
    [job] = await jobs(emu)
    assert job["fault"] == fault
    return await finished_job(emu, job["id"])


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("how", CREATES)
async def test_a_gateway_answers_with_its_html_page_after_the_job_has_started(
    emulator: RunningEmulator, client: AsyncOpenAI, how: Create, status: int
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await create(client, how, f"gateway={status}")
    exc = caught.value
    assert exc.status_code == status
    assert isinstance(exc.body, str), "not the API's JSON envelope, so the SDK keeps the text"
    assert f"<head><title>{TITLES[status]}</title></head>" in exc.body
    assert f"<center><h1>{TITLES[status]}</h1></center>" in exc.body
    headers = exc.response.headers
    assert headers["content-type"].startswith("text/html")
    assert "x-request-id" not in headers, "a gateway's page did not come from the API"
    assert not [name for name in headers if name.startswith("x-ratelimit-")]
    job = await the_job(emulator, f"gateway={status}")
    assert (job["kind"], job["status"], job["answered"]) == (
        "chat.completion" if how == "chat" else "response",
        "completed",
        False,
    )
    if how != "chat":
        assert (await client.responses.retrieve(job["id"])).status == "completed", "pollable by its id"
        [row] = await inspect(emulator, "responses")
        assert (row["id"], row["answered"], row["fault"]) == (job["id"], False, f"gateway={status}")
    counts = await stats(emulator)
    assert counts["status_codes"][str(status)] == 1
    assert (counts["jobs"], counts["unanswered_creates"]) == (1, 1)


@pytest.mark.parametrize("how", CREATES)
async def test_a_hung_create_never_answers_and_the_client_times_out(
    emulator: RunningEmulator, client: AsyncOpenAI, how: Create
) -> None:
    with pytest.raises(openai.APITimeoutError):
        await create(client.with_options(timeout=0.3), how, "hang")
    job = await the_job(emulator, "hang")
    assert (job["status"], job["answered"]) == ("completed", False)
    # The held request ends with its client (nginx's 499, sent to nobody): nothing is left waiting.
    counts = await eventually(lambda: stats(emulator), lambda s: s["status_codes"].get("499") == 1)
    assert counts["unanswered_creates"] == 1


async def test_a_stream_cut_before_its_first_event_is_a_connection_error(
    emulator: RunningEmulator, client: AsyncOpenAI
) -> None:
    raw = await client.responses.with_raw_response.create(
        model="gpt-4.1",
        input="hi",
        background=True,
        stream=True,
        extra_headers={"x-emulator-fault": "cut-before-events"},
    )
    assert raw.http_response.status_code == 200
    assert raw.http_response.headers["content-type"].startswith("text/event-stream")
    seen: list[Any] = []
    with pytest.raises(openai.APIConnectionError) as caught:
        await _read_into(raw.parse(), seen)
    assert seen == []
    assert type(caught.value) is openai.APIConnectionError, "a cut, not a timeout"
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert "incomplete chunked read" in str(caught.value.__cause__)
    job = await the_job(emulator, "cut-before-events")
    assert (job["status"], job["answered"]) == ("completed", False)
    replay = [event async for event in await client.responses.retrieve(job["id"], stream=True)]
    assert replay[0].type == "response.created", "a resume replays the whole stream"
    assert replay[-1].type == "response.completed"


async def test_an_empty_stream_ends_cleanly_without_an_event(
    emulator: RunningEmulator, client: AsyncOpenAI
) -> None:
    fault = {"x-emulator-fault": "empty-stream"}
    stream = await client.responses.create(
        model="gpt-4.1", input="hi", background=True, stream=True, extra_headers=fault
    )
    assert [event async for event in stream] == []
    body = {"model": "gpt-4.1", "input": "hi", "background": True, "stream": True}
    response, frames = await raw_sse(emulator.url, "POST", "/responses", json=body, headers=fault)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert frames == []
    assert response.content == b"", "a complete, empty body: no event, not even a keep-alive"
    for job in await jobs(emulator):
        final = await finished_job(emulator, job["id"])
        assert (final["status"], final["answered"], final["fault"]) == ("completed", False, "empty-stream")


async def _read_into(stream: openai.AsyncStream[Any], seen: list[Any]) -> None:
    async for event in stream:
        seen.append(event)


@pytest.mark.parametrize("background", [True, False])
async def test_a_stream_without_response_created_starts_at_sequence_number_1(
    emulator: RunningEmulator, client: AsyncOpenAI, background: bool
) -> None:
    stream = await client.responses.create(
        model="gpt-4.1",
        input="hi",
        background=background,
        stream=True,
        extra_headers={"x-emulator-fault": "skip-created"},
    )
    events = [event async for event in stream]
    first = events[0]
    assert first.type == ("response.queued" if background else "response.in_progress")
    assert [event.sequence_number for event in events] == list(range(1, len(events) + 1))
    assert events[-1].type in TERMINAL_EVENTS
    job = await the_job(emulator, "skip-created")
    assert response_of(first).id == job["id"]
    assert job["answered"] is True, "the first event seen carries the id"
    if background:
        resumed = await client.responses.retrieve(job["id"], stream=True, starting_after=1)
        assert [event.sequence_number async for event in resumed] == list(range(2, len(events) + 1))
        replay = [event async for event in await client.responses.retrieve(job["id"], stream=True)]
        assert (replay[0].type, replay[0].sequence_number) == ("response.created", 0)


@pytest.mark.parametrize("fault", ["cut-before-events", "empty-stream", "skip-created"])
async def test_stream_only_faults_leave_json_answers_alone(
    emulator: RunningEmulator, client: AsyncOpenAI, fault: str
) -> None:
    await create(client, "responses", fault)
    await create(client, "chat", fault)
    assert [(job["answered"], job["fault"]) for job in await jobs(emulator)] == [(True, None)] * 2


@pytest.mark.parametrize("fault", ["gateway=500", "gateway", "hang,gateway=502", "empty-stream,hang"])
async def test_a_malformed_network_fault_is_refused_and_starts_nothing(
    emulator: RunningEmulator, client: AsyncOpenAI, fault: str
) -> None:
    with pytest.raises(openai.BadRequestError):
        await create(client, "responses-stream", fault)
    assert await jobs(emulator) == []


async def test_network_faults_combine_with_outcome_faults(
    emulator: RunningEmulator, client: AsyncOpenAI
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await create(client, "responses", "fail,gateway=503")
    assert caught.value.status_code == 503
    job = await the_job(emulator, "gateway=503")
    assert job["status"] == "failed", "the job met its own fault, the answer the gateway's"


@pytest.mark.parametrize(
    ("config", "fault"),
    [
        (EmulatorConfig(gateway_error_rate=1.0), "gateway"),
        (EmulatorConfig(hang_rate=1.0), "hang"),
        (EmulatorConfig(stream_cut_rate=1.0), "cut-before-events"),
        (EmulatorConfig(empty_stream_rate=1.0), "empty-stream"),
        (EmulatorConfig(skip_created_rate=1.0), "skip-created"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_a_rate_of_one_faults_every_create(
    make_client: ClientFactory, config: EmulatorConfig, fault: str
) -> None:
    stream_only = fault not in ("gateway", "hang")
    with running_emulator(config) as emu:
        client = make_client(emu).with_options(timeout=0.3)
        for row in range(3):
            for how in ("responses-stream",) if stream_only else CREATES:
                with contextlib.suppress(openai.APIError):
                    await create(client, how, prompt=f"row {row}")
        if stream_only:
            await create(client, "responses")
            await create(client, "chat")
        faults = [job["fault"] for job in await jobs(emu)]
    faulted = faults[:3] if stream_only else faults
    assert [str(f).split("=")[0] for f in faulted] == [fault] * len(faulted)
    assert len(faulted) == (3 if stream_only else 9)
    if stream_only:
        assert faults[3:] == [None, None], "stream-only rates leave JSON answers alone"


async def _faults_drawn(make_client: ClientFactory, seed: int, prompts: list[str]) -> list[str | None]:
    config = EmulatorConfig(seed=seed, gateway_error_rate=0.3, skip_created_rate=0.5)
    with running_emulator(config) as emu:
        client = make_client(emu)
        for prompt in prompts:
            with contextlib.suppress(openai.InternalServerError):
                await create(client, "responses-stream", prompt=prompt)
        return [job["fault"] for job in await jobs(emu)]


async def test_fault_draws_follow_the_seed_and_the_request(make_client: ClientFactory) -> None:
    prompts = [f"row {i}" for i in range(16)]
    first = await _faults_drawn(make_client, 5, prompts)
    assert first == await _faults_drawn(make_client, 5, prompts), "same seed, same faults"
    assert first != await _faults_drawn(make_client, 6, prompts)
    assert {str(f).split("=")[0] for f in first} == {"gateway", "skip-created", "None"}
    retried = await _faults_drawn(make_client, 5, ["same row"] * 16)
    assert len(set(retried)) > 1, "an identical retry draws again"


async def test_a_gateway_status_is_drawn_among_502_503_and_504(make_client: ClientFactory) -> None:
    with running_emulator(EmulatorConfig(gateway_error_rate=1.0, seed=2)) as emu:
        client = make_client(emu)
        statuses = set()
        for row in range(30):
            with pytest.raises(openai.InternalServerError) as caught:
                await create(client, "responses", prompt=f"row {row}")
            statuses.add(caught.value.status_code)
    assert statuses == {502, 503, 504}
