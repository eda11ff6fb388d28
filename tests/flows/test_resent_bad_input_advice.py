"""The closing advice for a row sent, edited, then resent (`--resend-edited`) whose new text cannot make a
request (`bad_input`: emptied): it was sent and paid for under its earlier text, so the advice must not
call it "never sent", and the way on is to fix its text and run with the option again, paid for again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay
from tests.support.duplicates import jobs_of


def _write(source: Path, asks: list[dict[str, str]]) -> None:
    source.write_text("".join(json.dumps(row) + "\n" for row in asks))


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_resent_row_emptied_by_its_edit_is_not_called_never_sent(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state = tmp_path / "asks.jsonl", tmp_path / "state"
    asks = [{"id": f"r{i}", "text": f"Say {i}."} for i in range(4)]
    _write(source, asks)
    args = ["run", str(source), "--prompt-column", "text", "--id-column", "id", "--state", str(state),
            "--output", str(tmp_path / "out.jsonl")]  # fmt: skip
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        first = rowrelay(args, env)
        assert first.returncode == 0, first.stderr[-3000:]
        asks[1]["text"] = ""  # an edit gone wrong: the row's text emptied
        _write(source, asks)
        resent = rowrelay([*args, "--resend-edited"], env)
        assert resent.returncode == 1, resent.stderr[-3000:]
        frame = load(state).set_index("row_key")
        assert (frame.loc["r1", "error_type"], frame.loc["r1", "attempts"]) == ("bad_input", 1)
        assert float(frame["cost_usd"]["r1"]) > 0  # what its earlier text cost stays counted
        said = " ".join(resent.stderr.split())
        assert "never sent" not in said, said[-2000:]
        assert (
            f"some rows did not complete: see `rowrelay status {state}`; 1 row failed for its own input "
            "and was not sent again (it was sent, and paid for, under its earlier text; bad_input: an empty "
            "prompt, a file that cannot be read): fix it in the input and run with --resend-edited, which "
            f"sends it again, paid for again (for a file put back under the same name: `rowrelay retry "
            f"{state}`)"
        ) in said, said[-2000:]
        assert "eligible again" not in said  # no other row failed: a retry of it alone fails it again

        asks[1]["text"] = "Say it again, fixed."  # as the line says
        _write(source, asks)
        fixed = rowrelay([*args, "--resend-edited"], env)
        assert fixed.returncode == 0, fixed.stderr[-3000:]
        jobs, unanswered = jobs_of(emu.url)
        frame = load(state)  # each row's jobs are the creates it counted, none a lost one (orphans 0)
        assert dict(jobs) == dict(zip(frame["row_key"], frame["attempts"], strict=True))
        assert jobs["r1"] == 2  # its first text's job and its fixed text's: asked for, not a duplicate
        assert not unanswered
        assert (frame["orphans"] == 0).all()


def test_rows_never_sent_rows_sent_before_and_others_each_get_their_own_way_on() -> None:
    from rowrelay.flows.closing_advice import not_completed_line

    said = not_completed_line("st", {"completed": 5, "failed": 6}, bad_input=1, sent_before=2)
    assert "1 row failed for its own input, never sent (" in said
    assert (
        "; 2 rows failed for their own input and were not sent again (they were sent, and paid for, under "
        "their earlier text; bad_input: an empty prompt, a file that cannot be read): fix them in the "
        "input and run with --resend-edited, which sends them again, paid for again (for a file put back "
        "under the same name: `rowrelay retry st`)"
    ) in said
    assert said.endswith("; `rowrelay retry st` makes the other 3 rows eligible again")
