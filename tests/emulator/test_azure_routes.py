"""The Responses routes as Azure OpenAI serves them, through the SDK's own `AsyncAzureOpenAI`: under
`/openai`, every call with an `api-version`, the key in `api-key` (or a Microsoft Entra ID token as a
bearer), and Azure's own error envelope where its gateway answers first (a key it does not take, a call
with no `api-version`)."""

from __future__ import annotations

import httpx
import openai
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.emulator.replies import AZURE_ACCESS_DENIED
from tests.support.emulator_checks import azure_client
from tests.support.inspection import eventually

KEY = "az-emulator-key"


@pytest.mark.parametrize("auth", [{"api_key": KEY}, {"azure_ad_token": KEY}], ids=["api-key", "entra-bearer"])
async def test_a_background_response_runs_its_course_on_the_azure_routes(auth: dict[str, str | None]) -> None:
    with running_emulator(EmulatorConfig(api_key=KEY, latency=LatencySpec.parse("fixed:0.2"))) as emu:
        async with azure_client(emu.url.removesuffix("/v1"), **auth) as client:
            created = await client.responses.create(model="my-deployment", input="hi", background=True)
            streamed = await client.responses.create(
                model="my-deployment", input="hi", background=True, stream=True
            )
            events = [event.type async for event in streamed]
            final = await eventually(
                lambda: client.responses.retrieve(created.id), lambda r: r.status == "completed"
            )
            cancelled = await client.responses.cancel(created.id)  # a completed one stays as it is
        routes = emu.emulator.stats()["routes"]
    assert created.status == "queued"
    assert events[0] == "response.created"
    assert events[-1] == "response.completed"
    assert final.output_text
    assert cancelled.status == "completed"
    assert routes["POST /openai/responses"] == 2
    assert not any(route.startswith("POST /v1/") for route in routes)


async def test_a_key_azure_does_not_take_is_its_401_and_starts_nothing() -> None:
    with running_emulator(EmulatorConfig(api_key=KEY)) as emu:
        async with azure_client(emu.url.removesuffix("/v1"), api_key="not-the-key") as client:
            with pytest.raises(openai.AuthenticationError) as refused:
                await client.responses.create(model="my-deployment", input="hi", background=True)
        assert emu.emulator.jobs_listing() == []
    assert refused.value.response.json() == {"error": {"code": "401", "message": AZURE_ACCESS_DENIED}}


def test_a_call_without_an_api_version_is_not_found() -> None:
    with running_emulator(EmulatorConfig(api_key=KEY)) as emu:
        answer = httpx.post(
            emu.url.removesuffix("/v1") + "/openai/responses",
            headers={"api-key": KEY},
            json={"model": "my-deployment", "input": "hi", "background": True},
        )
        assert emu.emulator.jobs_listing() == []
    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "404", "message": "Resource not found"}}
