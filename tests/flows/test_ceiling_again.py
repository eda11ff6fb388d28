"""Rows that ended `incomplete` at their output token ceiling, and the advice to retry them: a user trial
ran with --max-output-tokens 40, retried the rows cut short as the closing line advised, and ran again at
40: 26 rows ended incomplete again, each paid for twice, nothing said. The closing line, `status` and
`retry` now say a retry at the same ceiling ends them the same way, and the run that sends them again at
a ceiling no higher says so before it sends them."""

from __future__ import annotations

import json
from pathlib import Path

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay
from tests.support.duplicates import jobs_of

ROWS = 12


def _said(stream: str) -> str:
    return " ".join(stream.split())


def test_rows_cut_at_the_ceiling_are_told_apart_before_a_retry_pays_for_them_again(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source, state = tmp_path / "asks.jsonl", tmp_path / "state"
    source.write_text("".join(json.dumps({"id": f"r{i}", "text": f"Say {i}."}) + "\n" for i in range(ROWS)))
    args = ["run", str(source), "--prompt-column", "text", "--id-column", "id", "--state", str(state),
            "--output", str(tmp_path / "out.jsonl"), "--max-output-tokens", "40"]  # fmt: skip
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), output_tokens=(20, 120), seed=5)
    with running_emulator(config) as emu:
        env = env_for(prefect_env, emu)
        first = rowrelay(args, env)
        assert first.returncode == 1, first.stderr[-3000:]
        frame = load(state)
        cut = int((frame["status"] == "incomplete").sum())
        assert 0 < cut < ROWS  # the emulator wrote past 40 tokens for some rows, not all
        assert set(frame.loc[frame["status"] == "incomplete", "error_message"]) == {
            "incomplete: max_output_tokens"
        }
        advice = (
            f"{cut} of them ended incomplete at the output token ceiling (max_output_tokens): sent again at "
            f"the same ceiling they end the same way, most likely, and are paid for again; raise "
            "--max-output-tokens (or, for a reasoning model, lower --reasoning-effort) for the run that "
            "sends them"
        )
        assert f"`rowrelay retry {state}` makes them eligible again, but {advice}" in _said(first.stderr), (
            first.stderr[-3000:]
        )
        status = rowrelay(["status", str(state)], env)
        assert advice in _said(status.stdout), status.stdout
        retried = rowrelay(["retry", str(state)], env)  # said where the person decides, too
        assert retried.returncode == 0, retried.stderr
        assert f"run the batch again to send them, but {advice}" in _said(retried.stdout), retried.stdout
        again = rowrelay(args, env)  # the same ceiling, as the user did
        said = _said(again.stderr)
        assert (
            f"{cut} rows this run sends again ended incomplete before, at the output token ceiling "
            "(max_output_tokens), and this run's --max-output-tokens, 40, is no higher than the tokens they "
            "wrote then: each ends the same way, most likely, paid for again; stop the run (Ctrl-C) and "
            "raise --max-output-tokens (or, for a reasoning model, lower --reasoning-effort) first"
        ) in said, again.stderr[-3000:]
        jobs, _ = jobs_of(emu.url)
        assert sum(jobs.values()) == ROWS + cut  # each cut row paid twice: said, no more
        higher = rowrelay(["retry", str(state)], env), rowrelay([*args[:-1], "200"], env)
        assert higher[1].returncode == 0, higher[1].stderr[-3000:]
        assert "no higher than the tokens" not in higher[1].stderr  # a higher ceiling: nothing to say
