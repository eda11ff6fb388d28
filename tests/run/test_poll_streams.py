"""When poll mode stops streaming: a server that takes background creates but not streamed ones (some
OpenAI-compatible servers) refuses the stream as invalid, which starts nothing, so the run asks again
without it, polls every row from then on, and pays for each row once; and answers so long that reading
every event of their streams costs more than polling them."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.run import open_session
from rowrelay.tasks.run.pace import SCOUTS
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.raw_http import raw_server
from tests.support.runs import creates_per_row, new_table, prompts, run_batch, settings_for


def _response(number: int, status: str, row: str) -> dict[str, Any]:
    return {
        "id": f"resp_{number}", "object": "response", "status": status, "model": "gpt-4.1-mini",
        "created_at": 1_700_000_000, "output": [], "metadata": {"rowrelay_row": row},
    }  # fmt: skip


@pytest.mark.parametrize("param", ["stream", None], ids=["param-stream", "said-in-words"])
async def test_a_server_that_refuses_streamed_creates_has_every_row_polled_and_paid_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, param: str | None
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
                        "param": param,
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


async def test_a_rows_own_refusal_of_a_streamed_create_is_not_taken_for_one_of_streams(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A row too long for the model is refused on its streamed create as on any (400, param `input`). It
    was taken for the server refusing streams: sent again without the stream, paid for if that was taken,
    and the whole run switched to polling. It fails alone, sent once, and the other rows still stream."""
    rows, model = 6, "gpt-4o-mini"  # a window of 128,000 tokens, at four characters a token
    asked = prompts(rows) | {"row-0000": "too long " * 60_000}
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        table = new_table(tmp_path / "batch", rows)
        session = open_session(settings_for(emu, model=model), table, asked)
        try:
            with caplog.at_level(logging.WARNING, logger="rowrelay.submit"):
                report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        creates = emu.emulator.routes["POST /v1/responses"]
        streamed = [response["stream"] for response in emu.emulator.listing()]
    frame = load(tmp_path / "batch").set_index("row_key")
    assert report.counts == {"completed": rows - 1, "failed": 1}
    assert frame.loc["row-0000", "error_type"] == "rejected"
    assert "exceeds the context window" in str(frame.loc["row-0000", "error_message"])
    assert creates == rows  # the long row's once, not again without the stream
    assert streamed == [True] * (rows - 1)
    assert [r.getMessage() for r in caplog.records if r.name == "rowrelay.submit"] == []


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
