"""When poll mode stops streaming: a server that takes background creates but not streamed ones (some
OpenAI-compatible servers) refuses the stream as invalid, which starts nothing, so the run asks again
without it, polls every row from then on, and pays for each row once; and answers so long that reading
every event of their streams costs more than polling them."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.run.pace import SCOUTS
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.raw_http import raw_server
from tests.support.runs import creates_per_row, run_batch


def _response(number: int, status: str, row: str) -> dict[str, Any]:
    return {
        "id": f"resp_{number}", "object": "response", "status": status, "model": "gpt-4.1-mini",
        "created_at": 1_700_000_000, "output": [], "metadata": {"rowrelay_row": row},
    }  # fmt: skip


async def test_a_server_that_refuses_streamed_creates_has_every_row_polled_and_paid_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids = itertools.count()
    jobs: dict[str, str] = {}  # response id -> row
    streamed_creates = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        nonlocal streamed_creates
        (method, path, *_), request = await read_request_and_body(reader)
        if method == "POST" and request.get("stream"):
            streamed_creates += 1
            status, body = (
                400,
                {
                    "error": {
                        "message": "Streaming is not supported with background mode",
                        "type": "invalid_request_error",
                        "param": "stream",
                        "code": None,
                    }
                },
            )
        elif method == "POST":
            number, row = next(ids), request["metadata"]["rowrelay_row"]
            jobs[f"resp_{number}"] = row
            status, body = 200, _response(number, "queued", row)
        else:
            response_id = path.rsplit("/", 1)[1]
            status, body = 200, _response(int(response_id.split("_")[1]), "completed", jobs[response_id])
        data = orjson.dumps(body)
        writer.write(b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\nconnection: close\r\n"
                     b"content-length: %d\r\n\r\n%s" % (status, len(data), data))  # fmt: skip
        await writer.drain()

    async with raw_server(handle) as url:
        report = await run_batch(SimpleNamespace(url=url), tmp_path / "batch", 6, poll_streams=2)  # type: ignore[arg-type]
    assert report.counts == {"completed": 6}
    assert 1 <= streamed_creates <= 2  # the creates that took a stream's place before the first refusal
    assert sorted(jobs.values()) == sorted(set(jobs.values()))  # one job a row
    assert_every_job_is_paid_for(load(tmp_path / "batch"), Counter(jobs.values()), Counter())
    said = [r.getMessage() for r in caplog.records if r.name == "rowrelay.submit"]
    assert len(said) == 1
    assert "refused a streamed background create" in said[0]
    assert "Streaming is not supported" in said[0]


async def read_request_and_body(reader: asyncio.StreamReader) -> tuple[list[str], dict[str, Any]]:
    """The request line's words and its JSON body ({} for none)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lengths = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    body = await reader.readexactly(int(lengths[0].split(b":")[1]) if lengths else 0)
    return head.split(b"\r\n")[0].decode().split(), orjson.loads(body) if body else {}


async def test_long_answers_stop_poll_mode_streaming_more_rows_once_the_scouts_have_ended(
    tmp_path: Path,
) -> None:
    """Each of a stream's events is read, and a long answer is hundreds of text deltas: once `SCOUTS`
    streamed rows have ended with more than `STREAM_EVENTS` events each on average, the rows still
    streaming finish and the rest are polled. Short answers keep streaming (test_pace.py)."""
    rows, places = 8 * SCOUTS, SCOUTS // 2
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"), output_tokens=(200, 300), max_deltas=200)
    with running_emulator(config) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows, max_in_flight=SCOUTS, poll_streams=places)
        streamed = sum(1 for r in emu.emulator.listing() if r["stream"])
        jobs = Counter(creates_per_row(emu))
    assert report.counts == {"completed": rows}
    # Places free one by one: until the SCOUTS-th stream ended, each freed place could go to a new
    # create, and at that moment up to `places` more were streaming.
    assert SCOUTS <= streamed <= SCOUTS + places, streamed
    assert report.counters.polls >= rows - streamed  # the rest were polled
    assert_every_job_is_paid_for(load(tmp_path / "batch"), jobs, Counter())
