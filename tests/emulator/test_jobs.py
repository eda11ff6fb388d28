"""/emulator/jobs: every paid job, of both APIs, with its row's prompt and metadata, and whether the
create that started it was answered: what a test needs to count jobs per row and orphaned creates."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import openai
import orjson
import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from tests.support.inspection import eventually, finished_job, inspect, jobs, stats
from tests.support.sse import ClientFactory

BODY = {"model": "gpt-4.1", "input": "Summarise ticket 7.", "background": True, "metadata": {"row": "r7"}}


async def test_every_job_of_both_apis_is_listed_with_its_prompt_and_metadata(
    emulator: RunningEmulator, client: AsyncOpenAI
) -> None:
    queued = await client.responses.create(
        model="gpt-4.1", input="a plain prompt", background=True, metadata={"row": "r1"}
    )
    conversation: Any = [
        {"role": "user", "content": "an earlier turn"},
        {"role": "assistant", "content": "an answer"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "the last turn"}]},
    ]
    unstored = await client.responses.create(model="gpt-4.1", input=conversation, store=False)
    chat = await client.chat.completions.create(
        model="gpt-4.1",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "a chat prompt"}],
        metadata={"row": "r3"},
    )
    with pytest.raises(openai.InternalServerError):  # the job ran and failed; the 500 carries no id
        await client.chat.completions.create(
            model="gpt-4.1",
            messages=[{"role": "user", "content": "a failing prompt"}],
            extra_headers={"x-emulator-fault": "fail"},
        )
    rows = [await finished_job(emulator, job["id"]) for job in await jobs(emulator)]
    assert [row["id"] for row in rows[:3]] == [queued.id, unstored.id, chat.id]
    assert rows[3]["id"].startswith("chatcmpl-")
    assert [{k: v for k, v in row.items() if k != "id"} for row in rows] == [
        {"kind": "response", "status": "completed", "metadata": {"row": "r1"}, "prompt": "a plain prompt"}
        | {"answered": True, "fault": None},
        {"kind": "response", "status": "completed", "metadata": {}, "prompt": "the last turn"}
        | {"answered": True, "fault": None},
        {
            "kind": "chat.completion",
            "status": "completed",
            "metadata": {"row": "r3"},
            "prompt": "a chat prompt",
        }
        | {"answered": True, "fault": None},
        {"kind": "chat.completion", "status": "failed", "metadata": {}, "prompt": "a failing prompt"}
        | {"answered": False, "fault": None},
    ]
    held = await inspect(emulator, "responses")
    assert [(row["id"], row["answered"], row["fault"]) for row in held] == [(queued.id, True, None)]
    counts = await stats(emulator)
    assert (counts["jobs"], counts["held"], counts["unanswered_creates"]) == (4, 1, 1)


async def _cancel_the_request(emu: RunningEmulator, client: AsyncOpenAI, stream: bool) -> None:
    """The client gives up on its create (a task cancelled, a timeout) once the job has started."""
    create = client.responses.create(
        model="gpt-4.1", input="Summarise ticket 7.", background=True, metadata={"row": "r7"}, stream=stream
    )
    pending = asyncio.ensure_future(create)
    await eventually(lambda: jobs(emu), bool)
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pending


async def _kill_the_client(emu: RunningEmulator, client: AsyncOpenAI, stream: bool) -> None:
    """The client's process is killed (SIGKILL) while it waits for its create's answer."""
    address = urlsplit(emu.url)
    payload = orjson.dumps({**BODY, "stream": stream})
    request = (
        f"POST /v1/responses HTTP/1.1\r\nHost: {address.netloc}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    script = (
        "import socket, sys, time\n"
        f"s = socket.create_connection(({address.hostname!r}, {address.port}))\n"
        f"s.sendall({request!r})\n"
        "print('sent', flush=True)\n"
        "time.sleep(600)\n"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-I", "-c", script, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert await process.stdout.readline() == b"sent\n"
        await eventually(lambda: jobs(emu), bool)
    finally:
        process.kill()
        await process.wait()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("leave", [_cancel_the_request, _kill_the_client], ids=["cancelled", "killed"])
async def test_a_client_gone_during_the_create_delay_leaves_an_unanswered_job(
    make_client: ClientFactory,
    leave: Callable[[RunningEmulator, AsyncOpenAI, bool], Awaitable[None]],
    stream: bool,
) -> None:
    # A delay no test outlives: the client is surely gone before it ends, and the emulator notices the
    # departure at once rather than at the delay's end.
    with running_emulator(EmulatorConfig(create_delay=600)) as emu:
        await leave(emu, make_client(emu), stream)
        counts = await eventually(lambda: stats(emu), lambda s: s["unanswered_creates"] == 1)
        assert counts["status_codes"].get("499") == 1, "the create ended with its client"
        [job] = await jobs(emu)
        final = await finished_job(emu, job["id"])
        assert (final["answered"], final["fault"], final["status"]) == (False, None, "completed")
        assert final["metadata"] == {"row": "r7"}, "the orphan is traceable to its row"
        [row] = await inspect(emu, "responses")
        assert (row["id"], row["answered"]) == (job["id"], False)


async def test_a_cancel_waits_out_the_cancel_delay_and_one_whose_client_left_first_cancels_nothing(
    make_client: ClientFactory,
) -> None:
    """`cancel_delay` is a far or busy server, where thousands of cancels take a while: each answers
    after it, and one whose client gave up meanwhile (a run stopped again) never reached its response."""
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:600"), cancel_delay=0.05)) as emu:
        client = make_client(emu)
        created = await client.responses.create(model="gpt-4.1", input="hi", background=True)
        assert (await client.responses.cancel(created.id)).status == "cancelled"
    # A delay no test outlives: the client is surely gone before it ends.
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:600"), cancel_delay=600)) as emu:
        client = make_client(emu)
        created = await client.responses.create(model="gpt-4.1", input="hi", background=True)
        pending = asyncio.ensure_future(client.responses.cancel(created.id))
        route = "POST /v1/responses/{response_id}/cancel"
        await eventually(lambda: stats(emu), lambda s: s["routes"].get(route) == 1)
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        await eventually(lambda: stats(emu), lambda s: s["status_codes"].get("499") == 1)
        assert (await client.responses.retrieve(created.id)).status in ("queued", "in_progress")
