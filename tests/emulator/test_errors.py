"""Error envelopes, status codes, SDK exception classes and the headers on every reply."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.emulator.contract import Spec
from tests.support.clock import ManualClock
from tests.support.events import response_of
from tests.support.sse import ClientFactory

RATELIMIT_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
)


def check_headers(headers: Mapping[str, str]) -> None:
    assert re.fullmatch(r"req_[0-9a-f]{32}", headers["x-request-id"])
    for name in RATELIMIT_HEADERS:
        assert name in headers, name
    assert re.fullmatch(r"\d+(\.\d+)?(ms|s)|\d+m[\d.]+s", headers["x-ratelimit-reset-requests"])


def check_error(
    spec: Spec, exc: openai.APIStatusError, status: int, type_: str, code: str | None, param: str | None
) -> dict[str, Any]:
    """The envelope is the spec's ErrorResponse with exactly four keys; the SDK unpacked it."""
    response = exc.response
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    check_headers(response.headers)
    body: dict[str, Any] = response.json()
    spec.check("ErrorResponse", body)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (exc.type, exc.code, exc.param) == (type_, code, param)
    assert exc.request_id == response.headers["x-request-id"]
    assert str(exc) == f"Error code: {status} - {body['error']['message']}"
    return body


@pytest.mark.parametrize(
    ("kwargs", "param", "code"),
    [
        ({"model": ""}, "model", "missing_required_parameter"),
        ({"max_output_tokens": 15}, "max_output_tokens", "integer_below_min_value"),
        ({"background": True, "store": False}, "store", None),
        ({"metadata": {"k": "v" * 513}}, "metadata", None),
        ({"previous_response_id": "resp_missing"}, "previous_response_id", None),
    ],
)
async def test_bad_requests_are_400(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    kwargs: dict[str, Any],
    param: str,
    code: str | None,
) -> None:
    request = {"model": "gpt-4.1", "input": "hi", **kwargs}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(**request)
    check_error(spec, caught.value, 400, "invalid_request_error", code, param)
    assert emulator.emulator.records == {}, "nothing is created by a refused request"


async def test_background_store_false_message_is_verbatim(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="o3", input="hi", background=True, store=False)
    assert caught.value.body == {
        "message": "Background mode requires store=true.",
        "type": "invalid_request_error",
        "param": "store",
        "code": None,
    }


async def test_current_store_policy_accepts_background_store_false(make_client: ClientFactory) -> None:
    with running_emulator(EmulatorConfig(store_policy="current")) as emu:
        client = make_client(emu)
        created = await client.responses.create(model="o3", input="hi", background=True, store=False)
        assert created.status == "queued"
        assert (await client.responses.retrieve(created.id)).status == "completed"


async def test_invalid_json_and_stream_errors_are_json_not_sse(emulator: RunningEmulator, spec: Spec) -> None:
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        broken = await http.post(
            "/responses", content=b"{not json", headers={"content-type": "application/json"}
        )
        refused = await http.post("/responses", json={"model": "o3", "max_output_tokens": 1, "stream": True})
    for response in (broken, refused):
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/json")
        spec.check("ErrorResponse", response.json())
        check_headers(response.headers)


@pytest.mark.parametrize("key", [None, "sk-wrong"])
async def test_wrong_or_missing_api_key_is_401(
    make_client: ClientFactory, spec: Spec, key: str | None
) -> None:
    with running_emulator(EmulatorConfig(api_key="sk-right")) as emu:
        if key is None:
            async with httpx.AsyncClient(base_url=emu.url) as http:
                response = await http.get("/responses/resp_x")
            assert response.status_code == 401
            check_headers(response.headers)
            spec.check("ErrorResponse", response.json())
            assert response.json()["error"]["code"] == "invalid_api_key"
            return
        client = make_client(emu, api_key=key)
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.responses.create(model="o3", input="hi")
        check_error(spec, caught.value, 401, "invalid_request_error", "invalid_api_key", None)
        assert emu.emulator.records == {}
        good = make_client(emu, api_key="sk-right")
        assert (await good.responses.create(model="o3", input="hi")).status == "completed"
        async with httpx.AsyncClient(base_url=emu.url.removesuffix("/v1")) as http:
            assert (await http.get("/emulator/stats")).status_code == 200, "inspection needs no key"


async def test_unknown_response_is_404(client: AsyncOpenAI, spec: Spec) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.retrieve("resp_doesnotexist")
    body = check_error(spec, caught.value, 404, "invalid_request_error", None, None)
    assert body["error"]["message"] == "Response with id 'resp_doesnotexist' not found."


async def test_a_model_not_served_is_404_model_not_found_and_starts_nothing(
    make_client: ClientFactory, spec: Spec
) -> None:
    """`--models`: what OpenAI answers a mistyped model, or one the key may not use, on both create
    routes, before rate limits; the models served still are, and `/v1/models` lists them."""
    with running_emulator(EmulatorConfig(models=("gpt-4.1-mini", "o3"), rpm=1)) as emu:
        client = make_client(emu)
        with pytest.raises(openai.NotFoundError) as caught:
            await client.responses.create(model="gpt-4.1-mnii", input="hi", background=True)
        body = check_error(spec, caught.value, 404, "invalid_request_error", "model_not_found", None)
        message = "The model `gpt-4.1-mnii` does not exist or you do not have access to it."
        assert body["error"]["message"] == message
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        check_error(spec, caught.value, 404, "invalid_request_error", "model_not_found", None)
        assert emu.emulator.jobs_listing() == []
        served = await client.responses.create(model="o3", input="hi")  # the one request rpm=1 allows
        assert served.status == "completed"
        assert [model.id async for model in client.models.list()] == ["gpt-4.1-mini", "o3"]


async def check_429(exc: openai.RateLimitError, spec: Spec, type_: str) -> None:
    check_error(spec, exc, 429, type_, "rate_limit_exceeded", None)
    headers = exc.response.headers
    assert int(headers["retry-after"]) >= 1
    assert float(headers["retry-after-ms"]) > 0


async def test_rpm_limit_is_429_with_retry_after(make_client: ClientFactory, spec: Spec) -> None:
    with running_emulator(EmulatorConfig(rpm=2)) as emu:
        client = make_client(emu)
        for _ in range(2):
            await client.responses.create(model="gpt-4.1", input="hi", background=True)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.responses.create(model="gpt-4.1", input="hi", background=True)
        await check_429(caught.value, spec, "requests")
        assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"
        assert caught.value.response.headers["x-ratelimit-limit-requests"] == "2"
        assert len(emu.emulator.records) == 2


async def test_tpm_limit_is_429(make_client: ClientFactory, spec: Spec) -> None:
    with running_emulator(EmulatorConfig(tpm=300)) as emu:
        client = make_client(emu)
        await client.responses.create(model="gpt-4.1", input="hi", max_output_tokens=200)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.responses.create(model="gpt-4.1", input="hi", max_output_tokens=200)
        await check_429(caught.value, spec, "tokens")
        assert "tokens per min" in caught.value.message


async def test_poll_limit_is_separate_from_create_limit(make_client: ClientFactory, spec: Spec) -> None:
    with running_emulator(EmulatorConfig(poll_rpm=2, rpm=100)) as emu:
        client = make_client(emu)
        created = await client.responses.create(model="gpt-4.1", input="hi", background=True)
        await client.responses.retrieve(created.id)
        await client.responses.cancel(created.id)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.responses.retrieve(created.id)
        await check_429(caught.value, spec, "requests")
        assert caught.value.response.headers["x-ratelimit-limit-requests"] == "2"
        again = await client.responses.create(model="gpt-4.1", input="hi", background=True)
        assert again.status == "queued", "creates have their own bucket"


async def test_forced_rate_limit_and_sdk_retry(
    make_client: ClientFactory, emulator: RunningEmulator, spec: Spec
) -> None:
    client = make_client(emulator)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.responses.create(
            model="gpt-4.1", input="hi", extra_headers={"x-emulator-fault": "rate-limit"}
        )
    await check_429(caught.value, spec, "requests")
    created = await client.responses.create(model="gpt-4.1", input="hi", background=True)
    with pytest.raises(openai.RateLimitError):
        await client.responses.retrieve(created.id, extra_headers={"x-emulator-fault": "rate-limit"})


async def test_server_errors_are_500(client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await client.responses.create(
            model="gpt-4.1", input="hi", background=True, extra_headers={"x-emulator-fault": "error"}
        )
    check_error(spec, caught.value, 500, "server_error", None, None)
    assert emulator.emulator.records == {}


async def test_every_reply_carries_request_id_and_ratelimit_headers(
    client: AsyncOpenAI, emulator: RunningEmulator
) -> None:
    created = await client.responses.with_raw_response.create(
        model="gpt-4.1", input="hi", background=True, stream=True
    )
    check_headers(created.http_response.headers)
    events = [event async for event in created.parse()]
    response_id = response_of(events[0]).id
    resumed = await client.responses.with_raw_response.retrieve(response_id, stream=True)
    check_headers(resumed.http_response.headers)
    assert resumed.http_response.headers["content-type"].startswith("text/event-stream")
    await resumed.http_response.aclose()
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        replies = [
            await http.get(f"/responses/{response_id}"),
            await http.get(f"/responses/{response_id}/input_items"),
            await http.post(f"/responses/{response_id}/cancel"),
            await http.get("/models"),
            await http.post(
                "/chat/completions", json={"model": "gpt-4.1", "messages": [{"role": "user", "content": "x"}]}
            ),
            await http.delete(f"/responses/{response_id}"),
            await http.delete(f"/responses/{response_id}"),
        ]
    assert [r.status_code for r in replies] == [200, 200, 200, 200, 200, 200, 404]
    ids = set()
    for reply in replies:
        check_headers(reply.headers)
        ids.add(reply.headers["x-request-id"])
    assert len(ids) == len(replies), "request ids are unique"


async def test_a_short_rate_window_limits_bursts_but_keeps_the_per_minute_rate(
    make_client: ClientFactory, spec: Spec
) -> None:
    # 480 RPM enforced per second: a full bucket holds 8 creates and refills one every 0.125 s. The clock
    # moves only when told to, by binary fractions, so the arithmetic below is exact on any machine.
    clock = ManualClock()
    with running_emulator(EmulatorConfig(rpm=480, rate_window=1.0), clock=clock) as emu:
        client = make_client(emu)

        async def burst() -> tuple[int, openai.RateLimitError]:
            """Create until refused: how many passed, and the refusal."""
            for passed in range(100):
                try:
                    await client.responses.create(model="gpt-4.1", input="hi", background=True)
                except openai.RateLimitError as exc:
                    return passed, exc
            raise AssertionError("never refused")

        passed, refused = await burst()
        assert passed == 8, "the burst is a second's worth, not a minute's 480"
        await check_429(refused, spec, "requests")
        headers = refused.response.headers
        assert headers["x-ratelimit-limit-requests"] == "480"  # still reported per minute
        assert headers["retry-after-ms"] == "125"  # one create's worth at 8 a second
        clock.advance(0.09375)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.responses.create(model="gpt-4.1", input="hi", background=True)
        assert caught.value.response.headers["retry-after-ms"] == "31", "a quarter of the wait is left"
        clock.advance(0.03125)
        again = await client.responses.create(model="gpt-4.1", input="hi", background=True)
        assert again.status == "queued"
        # A whole minute refills the bucket only to its one-second capacity: still a burst of 8...
        clock.advance(60.0)
        assert (await burst())[0] == 8
        # ...and each second refills 8 creates: 480 a minute.
        for _ in range(3):
            clock.advance(1.0)
            assert (await burst())[0] == 8


async def test_a_slow_create_has_started_its_job_before_the_client_hears_of_it(
    make_client: ClientFactory,
) -> None:
    with running_emulator(EmulatorConfig(create_delay=0.5)) as emu:
        client = make_client(emu)
        pending = asyncio.ensure_future(client.responses.create(model="gpt-4.1", input="hi", background=True))
        await asyncio.sleep(0.25)
        held = emu.emulator.listing()
        assert len(held) == 1  # the server holds the job while the create is still unanswered
        created = await pending
        assert created.id == held[0]["id"]
