"""An answer the content filter stopped partway is `incomplete`, never a completed answer: on the Responses
API (`incomplete_details.reason: content_filter`) and on Chat Completions (`finish_reason:
content_filter`), whose rows were recorded completed, the filter's partial text written to the output as
the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.runs import run_batch

ROWS = 6


@pytest.mark.parametrize(
    "backend", [{"backend": "emulator"}, {"backend": "chat", "api_key": "unused"}], ids=["responses", "chat"]
)
async def test_a_filtered_answer_is_incomplete_with_its_reason(
    backend: dict[str, Any], tmp_path: Path
) -> None:
    with running_emulator(EmulatorConfig(content_filter_rate=1.0)) as emu:
        report = await run_batch(emu, tmp_path / "batch", rows=ROWS, **backend)
        served = emu.emulator.status_codes
    assert served[200] >= ROWS
    assert report.counts == {"incomplete": ROWS}
    frame = load(tmp_path / "batch")
    assert set(frame["error_type"]) == {"incomplete"}
    assert set(frame["error_message"]) == {"incomplete: content_filter"}
    assert (frame["output_text"].str.len() > 0).all(), "the partial text is kept, as the row's, not an answer"
    assert (frame["attempts"] == 1).all(), "not sent again by itself: `rowrelay retry` makes it eligible"
