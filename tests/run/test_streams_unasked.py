"""A server (or a proxy in front of one) that streams every answer, a create that asked for no stream
too, through whole runs on both transports.

Poll mode streams its first rows (`poll_streams`), and such a server serves them; its plain creates were
met, on the SDK's transport, as a success naming no response (the SDK hands a body it cannot read as JSON
over as its text), on the lean one as a body that is not the API's: either way the run stopped telling the
user to check the base URL, which was right. It still stops (every plain create would be answered so),
now saying the server streams what nobody asked to stream. Each create so answered was taken by the
server, whose job may run: it is counted on its row as maybe created, and the server's jobs per row are
compared with what each row counted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import NotTheApiError
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.quirky_server import Quirks, quirky
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

ROWS = 8
STREAMED = 2
"""Poll mode's rows followed on their create's stream: served by the server that streams everything."""


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_a_plain_create_answered_with_a_stream_stops_the_run_counted_on_its_row(
    transport: str, tmp_path: Path
) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"))
    with running_emulator(config) as emu:
        async with quirky(emu.url, Quirks(streams_always=True)) as server:
            settings = settings_for(
                Address(server.url), mode="poll", transport=transport, poll_streams=STREAMED
            )
            with pytest.raises(NotTheApiError) as raised:
                await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
        started, unanswered = jobs_of(emu.url)
    said = str(raised.value)
    assert said.startswith(f"POST {server.url}/responses was answered with a stream (text/event-stream: ")
    assert "though the create asked for none: the server (or a proxy in front of it) streams every" in said
    assert "base URL" not in said
    frame = load(tmp_path / "state")
    # Every create the server got started a job, and each counts on its row: never paid twice silently.
    attempts = frame.set_index("row_key")["attempts"]
    assert started == Counter({key: n for key, n in attempts.items() if n})
    assert_every_job_is_paid_for(frame, started, unanswered)
    streamed_unasked = frame[frame["error_message"].fillna("").str.contains("was answered with a stream")]
    assert len(streamed_unasked) >= 1
    assert set(streamed_unasked["status"]) == {"orphaned"}, "maybe created: the server took the create"
    assert (streamed_unasked["orphans"] == 1).all()
    assert (streamed_unasked["attempts"] == 1).all()
