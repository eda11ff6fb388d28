"""A row larger than the server's whole tokens-per-minute limit: OpenAI refuses its create with a 429 that
no wait cures ("Request too large ... must be reduced"). The row fails alone with the server's words,
having started nothing and spent no attempt; the rest of the batch completes and the run ends. Before,
each refusal read as a passing limit: the row went back to pending and was sent again for ever, and the
run never ended (146 refusals of one row in 150 s)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import new_table, prompts, run_table, settings_for

ROWS = 6
LARGE = "row-0003"


async def test_a_row_over_the_whole_limit_fails_alone_and_the_run_ends(tmp_path: Path) -> None:
    asked = prompts(ROWS)
    asked[LARGE] = "Summarise this ticket. " + "The printer on floor three is jammed again. " * 300
    with running_emulator(EmulatorConfig(tpm=2_000)) as emu:
        report = await run_table(
            new_table(tmp_path / "batch", ROWS), settings_for(emu, max_output_tokens=100), asked
        )
        started, unanswered = jobs_of(emu.url)
    assert report.counts == {"completed": ROWS - 1, "failed": 1}
    frame = load(tmp_path / "batch").set_index("row_key", drop=False)
    large = frame.loc[LARGE]
    assert (large["status"], large["error_type"]) == ("failed", "rejected")
    assert str(large["error_message"]).startswith(
        "the request is larger than the server's tokens-per-minute limit, so it is never accepted (429): "
        "Request too large for gpt-4.1-mini"
    )
    assert str(large["error_message"]).endswith("; shorten the row's input or lower --max-output-tokens")
    assert large["attempts"] == 0, "refused before anything started: no attempt spent"
    assert started == Counter({key: 1 for key in asked if key != LARGE})
    assert_every_job_is_paid_for(frame, started, unanswered)
