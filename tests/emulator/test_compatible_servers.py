"""What OpenAI-compatible servers and the gateways in front of them do that OpenAI does not, as the
emulator's options reproduce it for the runner's tests."""

from __future__ import annotations

import httpx
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from rowrelay.tasks.emulator.config import BackgroundRefusal
from tests.support.clock import ManualClock
from tests.support.sse import ClientFactory


async def _found(emu: RunningEmulator, response_id: str, polls: int) -> list[bool]:
    """Whether each of `polls` retrieves found the response; a miss must be the API's own 404."""
    found = []
    async with httpx.AsyncClient(base_url=emu.url) as http:
        for _ in range(polls):
            answer = await http.get(f"/responses/{response_id}")
            found.append(answer.status_code == 200)
            if answer.status_code != 200:
                assert (answer.status_code, answer.json()["error"]) == (
                    404,
                    {
                        "message": f"Response with id '{response_id}' not found.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    },
                )
    return found


async def test_replicas_find_only_the_responses_they_made(make_client: ClientFactory) -> None:
    """vLLM's in-memory store behind a load balancer: a poll finds its response only on the replica that
    made it, by the draw of the seed (the same each time)."""
    seen = []
    for _ in range(2):
        with running_emulator(EmulatorConfig(replicas=2, seed=4)) as emu:
            created = await make_client(emu).responses.create(
                model="gpt-4.1-mini", input="hi", background=True
            )
            seen.append(await _found(emu, created.id, 20))
    assert seen[0] == seen[1]
    assert 0 < sum(seen[0]) < 20
    with running_emulator(EmulatorConfig()) as emu:  # one replica: always found
        created = await make_client(emu).responses.create(model="gpt-4.1-mini", input="hi", background=True)
        assert await _found(emu, created.id, 5) == [True] * 5


@pytest.mark.parametrize(
    ("refusal", "body"),
    [
        (
            400,
            {
                "error": {
                    "message": "Cancel is not supported for this response.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        (405, {"detail": "Method Not Allowed"}),
    ],
)
async def test_a_server_that_cannot_cancel_refuses_and_the_response_goes_on(
    make_client: ClientFactory, refusal: int, body: dict[str, object]
) -> None:
    with running_emulator(EmulatorConfig(cancel_refusal=refusal, stuck_rate=1.0)) as emu:
        created = await make_client(emu).responses.create(model="gpt-4.1-mini", input="hi", background=True)
        async with httpx.AsyncClient(base_url=emu.url) as http:
            refused = await http.post(f"/responses/{created.id}/cancel")
            assert (refused.status_code, refused.json()) == (refusal, body)
            assert (await http.get(f"/responses/{created.id}")).json()["status"] == "queued"


async def test_a_gateway_whose_upstream_restarts_answers_502_and_starts_nothing() -> None:
    clock = ManualClock()
    with running_emulator(EmulatorConfig(down_for=20.0), clock=clock) as emu:
        async with httpx.AsyncClient(base_url=emu.url) as http:
            body = {"model": "gpt-4.1-mini", "input": "hi", "background": True}
            down = await http.post("/responses", json=body)
            assert (down.status_code, down.headers["content-type"]) == (502, "text/html; charset=utf-8")
            assert "<h1>502 Bad Gateway</h1>" in down.text
            assert "x-request-id" not in down.headers  # the gateway's own answer, not the API's
            assert (await http.get("/responses/resp_1")).status_code == 502
            assert emu.emulator.jobs_listing() == []
            clock.advance(20.0)
            assert (await http.post("/responses", json=body)).status_code == 200
        assert len(emu.emulator.jobs_listing()) == 1


@pytest.mark.parametrize(("refusal", "param"), [("param", "background"), ("unnamed", None)])
async def test_a_vllm_without_its_store_refuses_background_creates(
    make_client: ClientFactory, refusal: BackgroundRefusal, param: str | None
) -> None:
    with running_emulator(EmulatorConfig(background_refusal=refusal)) as emu:
        async with httpx.AsyncClient(base_url=emu.url) as http:
            body = {"model": "gpt-4.1-mini", "input": "hi", "background": True}
            refused = await http.post("/responses", json=body)
            assert refused.status_code == 400
            said = refused.json()["error"]
            assert said["message"].startswith("This vLLM engine does not support `store=True`")
            assert said["param"] == param
            assert (await http.post("/responses", json={**body, "background": False})).status_code == 200
        assert len(emu.emulator.jobs_listing()) == 1  # the foreground one alone
