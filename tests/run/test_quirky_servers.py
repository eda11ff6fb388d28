"""Whole batches against OpenAI-compatible servers whose streams differ from OpenAI's, on both transports
and in both wait modes (poll mode streams its first rows): events without `sequence_number`, keep-alive
events (no `type`, or no data), and a server that ignores `stream` and answers with the response object
labelled `text/plain` or with an empty content type. A user trial found every streamed row of the first
two failed on the lean transport, and every row of the last paid up to --max-attempts times with no
answer. Every row completes now, each with one job on the server, counted once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.quirky_server import Quirks, quirky
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

ROWS = 8
QUIRKS = {
    "unnumbered-with-keep-alives": Quirks(unnumbered=True, keep_alives=True),
    "ignores-stream-text-plain": Quirks(ignores_stream=True, content_type="text/plain; charset=utf-8"),
    "ignores-stream-empty-content-type": Quirks(ignores_stream=True, content_type=""),
}


async def _each_row_completes_once(
    config: EmulatorConfig, quirks: Quirks, mode: str, transport: str, tmp_path: Path
) -> pd.DataFrame:
    """A batch run through a quirky server in front of an emulator of `config`: every row completed,
    with an answer, one job on the server and one attempt each, every job paid for. Its rows."""
    with running_emulator(config) as emu:
        async with quirky(emu.url, quirks) as server:
            settings = settings_for(Address(server.url), mode=mode, transport=transport)
            report = await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "state")
    assert report.counts == {"completed": ROWS}, frame[["row_key", "status", "error_message"]]
    assert frame["output_text"].str.len().gt(0).all()
    assert started == Counter(dict.fromkeys(frame["row_key"], 1))
    assert (frame["attempts"] == 1).all()
    assert_every_job_is_paid_for(frame, started, unanswered)
    return frame


@pytest.mark.parametrize("transport", ["lean", "sdk"])
@pytest.mark.parametrize("mode", ["poll", "stream"])
@pytest.mark.parametrize("quirk", list(QUIRKS))
async def test_every_row_completes_once_on_a_quirky_server(
    quirk: str, mode: str, transport: str, tmp_path: Path
) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"))
    frame = await _each_row_completes_once(config, QUIRKS[quirk], mode, transport, tmp_path)
    assert (frame["orphans"] == 0).all()


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_a_stream_without_sequence_numbers_cut_every_time_is_polled_to_its_end(
    transport: str, tmp_path: Path
) -> None:
    """The emulator cuts every stream after three events, a resumed one too. Without a cursor a resume
    starts from the first event and would be cut at the same place for ever: the row is polled."""
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.3"), drop_stream_after=3)
    await _each_row_completes_once(config, Quirks(unnumbered=True), "stream", transport, tmp_path)
