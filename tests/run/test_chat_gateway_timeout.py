"""A gateway in front of a Chat Completions server gives up on a slow answer at its own timeout (nginx's
proxy_read_timeout, 60 s by default) and answers 504 (Cloudflare: 524; LiteLLM: 408 in the API's error
envelope). The create had reached the server, which writes the answer and bills it; sent again, the
same prompt is cut again. It was read as any gateway's page and sent again up to --max-attempts, each
time a paid answer lost. Now it is read as the chat timeout's cut (test_chat_timeout.py): counted once on
its row, the row held for `rowrelay retry`, said once naming the gateway's timeout. Responses-API
creates (answered at once, background mode) and other gateway pages are sent again as before. And a chat
create whose request could not be sent in time says which timeout bounds that, not the Responses API's
hint about servers that ignore background mode.

Against the emulator over real sockets, through the SDK, a gateway in front
(tests/support/timing_out_gateway.py); the server's jobs per row are the rows' attempts.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm import MaybeSentError, RowRequest, make_backend
from rowrelay.tasks.run import RunReport
from rowrelay.tasks.state import StateTable, load
from rowrelay.tasks.state.retrying import retry
from tests.support.runs import Address, new_table, prompts, run_table, settings_for
from tests.support.timing_out_gateway import timing_out

ROWS = 4
CHAT_CUT = "a chat create's answer took longer than the chat timeout"
LOST = "a create's answer was lost"


def _jobs(emu: RunningEmulator, kind: str = "chat.completion") -> Counter[str]:
    """Jobs the emulator started per row, told by their prompt (a chat completion has no metadata)."""
    row_of = {prompt: key for key, prompt in prompts(ROWS).items()}
    listing = httpx.get(emu.url.removesuffix("/v1") + "/emulator/jobs", timeout=30).json()["data"]
    return Counter(row_of[job["prompt"]] for job in listing if job["kind"] == kind)


def _attempts(directory: Path) -> Counter[str]:
    frame = load(directory)
    return Counter(dict(zip(frame["row_key"], frame["attempts"].astype(int), strict=True)))


async def _run(url: str, directory: Path, *, again: bool = False, **overrides: object) -> RunReport:
    table = StateTable.open(directory, batch_id="test-batch") if again else new_table(directory, ROWS)
    settings = settings_for(Address(url), **{"backend": "chat", "api_key": "unused", **overrides})
    return await run_table(table, settings, prompts(ROWS))


@pytest.mark.parametrize(
    ("status", "said"), [(504, "504 (Gateway Timeout)"), (524, "524 (A Timeout Occurred)"), (408, "408 (")]
)
async def test_a_chat_create_cut_by_a_gateways_timeout_is_counted_once_and_held_for_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int, said: str
) -> None:
    batch = tmp_path / "batch"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.2"))) as emu:
        async with timing_out(emu.url, status) as gateway:
            with caplog.at_level(logging.WARNING, logger="rowrelay"):
                report = await _run(gateway.url, batch, max_attempts=3)
            cut = _jobs(emu)
            frame = load(batch)
            assert gateway.cut == ROWS
            assert report.counts == {"orphaned": ROWS}, frame[["status", "attempts", "note"]]
            assert cut == _attempts(batch) == Counter(dict.fromkeys(prompts(ROWS), 1))  # one paid job a row
            assert frame["orphans"].tolist() == [1] * ROWS
            assert report.counters.maybe_created == ROWS
            assert set(frame["error_code"]) == {"answer_timeout"}
            assert frame["error_message"].str.startswith(f"{said}").all(), frame["error_message"].tolist()
            assert frame["error_message"].str.contains("from a gateway in front of the server").all()
            assert frame["note"].str.endswith("held for `rowrelay retry`").all(), frame["note"].tolist()
            told = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            gateway_said = [m for m in told if m.startswith(f"a chat create was answered {said}")]
            assert len(gateway_said) == 1, told
            assert "the gateway's own timeout cut the wait for the answer, not rowrelay's" in gateway_said[0]
            assert "`rowrelay retry` sends the held rows" in gateway_said[0]
            assert not [m for m in told if m.startswith((CHAT_CUT, LOST))], "said once, in its own words"

            again = await _run(gateway.url, batch, again=True, max_attempts=3)  # the same command: held
            assert again.counters.creates == 0
            assert _jobs(emu) == cut

        assert retry(batch) == ROWS
        done = await _run(emu.url, batch, again=True, max_attempts=3)  # to the server itself
        jobs = _jobs(emu)
    assert done.counts == {"completed": ROWS}
    assert jobs == _attempts(batch) == Counter(dict.fromkeys(prompts(ROWS), 2))


async def test_another_gateway_page_to_a_chat_create_is_sent_again_within_its_attempts(
    tmp_path: Path,
) -> None:
    """A 502 says nothing of how long the answer takes (an upstream failed, restarting): sent again."""
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        async with timing_out(emu.url, 502) as gateway:
            report = await _run(gateway.url, tmp_path / "batch", max_attempts=2)
        jobs = _jobs(emu)
    frame = load(tmp_path / "batch")
    assert report.counts == {"orphaned": ROWS}
    assert jobs == _attempts(tmp_path / "batch") == Counter(dict.fromkeys(prompts(ROWS), 2))
    assert frame["note"].str.contains("gave up after 2 attempts").all(), frame["note"].tolist()
    assert not frame["error_code"].isin(["answer_timeout"]).any()


async def test_a_responses_create_answered_504_is_sent_again_as_before(tmp_path: Path) -> None:
    """A background create is answered at once: its 504 is a gateway's fault, not a long answer."""
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        async with timing_out(emu.url, 504, route="/responses") as gateway:
            report = await _run(gateway.url, tmp_path / "batch", backend="emulator", max_attempts=2)
        jobs = _jobs(emu, "response")
    frame = load(tmp_path / "batch")
    assert gateway.cut == 2 * ROWS
    assert report.counts == {"orphaned": ROWS}
    assert jobs == _attempts(tmp_path / "batch") == Counter(dict.fromkeys(prompts(ROWS), 2))
    assert frame["note"].str.contains("gave up after 2 attempts").all(), frame["note"].tolist()


@pytest.fixture
def deaf_server() -> Iterator[str]:
    """A server that takes connections and never reads a byte: a create larger than the socket buffers
    cannot be sent, and its write times out."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    taken: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                taken.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join()
        for held in taken:
            held.close()
        listener.close()


async def test_a_chat_create_not_sent_in_time_names_the_timeout_that_bounds_sending(deaf_server: str) -> None:
    settings = settings_for(Address(deaf_server), backend="chat", api_key="unused", request_timeout=0.5)
    backend = make_backend(settings)
    request = RowRequest("row-0000", "x" * 16_000_000, None, "gpt-4.1-mini", {})
    try:
        with pytest.raises(MaybeSentError) as raised:
            await backend.create(request)
    finally:
        await backend.aclose()
    said = str(raised.value)
    assert said.startswith(
        "the request timed out while it was being sent (ROWRELAY_REQUEST_TIMEOUT, 0.5 s, bounds sending a "
        "chat create; the wait for its answer is ROWRELAY_CHAT_TIMEOUT's)"
    ), said
    assert "only once its response has ended" not in said
