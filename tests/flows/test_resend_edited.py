"""`rowrelay run --resend-edited`, through the installed command against the emulator over a real socket:
a typo fixed in a few prompts of a batch that ran is sent again for those rows alone, each a counted,
announced second job; a row whose response to its old text may still run is refused, nothing sent."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import StateTable, load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.duplicates import jobs_of
from tests.support.runs import creates_per_row, flow_args
from tests.support.tickets import write_tickets

EDITED = {1: "Edited: my parcel came twice.", 4: "Edited: the invoice is wrong.", 8: "Edited: refund please."}


def _asked(emu: RunningEmulator) -> dict[str, list[str]]:
    """The texts each row's creates sent, by row key, in the order the server took them."""
    sent: dict[str, list[str]] = {}
    for record in emu.emulator.records.values():
        body = record.body
        text = body["input"] if isinstance(body["input"], str) else json.dumps(body["input"])
        sent.setdefault(body["metadata"]["rowrelay_row"], []).append(text)
    return sent


def _edit(source: Path, edits: dict[int, str]) -> None:
    frame = pd.read_csv(source, dtype=str)
    for row, body in edits.items():
        frame.loc[row, "body"] = body
    frame.to_csv(source, index=False)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_three_prompts_fixed_after_the_batch_ran_are_sent_again_alone(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """The run was refused ('3 rows changed input since this batch sent them ...', exit 2) and the only
    way on, a new --state, sent and paid for all ten rows again. Refused, it now names --resend-edited;
    with it, the three edited rows are sent again under their new text, and only they: each row's jobs on
    the server are the creates it counted (attempts), a resend being the second, and the run says so."""
    source = write_tickets(tmp_path / "tickets.csv", 10)
    keys = [f"T-{i:05d}" for i in range(10)]
    edited = [keys[row] for row in EDITED]
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        first = rowrelay(run_args(source, tmp_path), env)
        assert first.returncode == 0, first.stderr[-3000:]
        before = load(tmp_path / "state").set_index("row_key")
        _edit(source, EDITED)
        refused = rowrelay(run_args(source, tmp_path), env)
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert refused.stderr.strip().splitlines()[-1] == (
            "error: 3 rows changed input since this batch sent them (e.g. T-00001, T-00004, T-00008); use "
            "a new --state directory for the new input, or restore the old one, or --resend-edited to "
            "send only them again, as edited (paid for again)"
        )
        assert creates_per_row(emu) == Counter(dict.fromkeys(keys, 1))  # nothing sent

        again = rowrelay([*run_args(source, tmp_path), "--resend-edited"], env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert (
            "3 rows this batch sent took their edited input, and are planned again under it "
            "(--resend-edited; e.g. T-00001, T-00004, T-00008): paid for again once sent (a --limit or a "
            "cost cap may leave some to a later run), 3 earlier answers dropped; what they cost so far stays "
            "counted\n"
        ) in again.stderr
        jobs, unanswered = jobs_of(emu.url)
        assert jobs == Counter({key: 2 if key in edited else 1 for key in keys})
        assert not unanswered
        state = load(tmp_path / "state").set_index("row_key")
        for key in keys:  # the server's jobs per row are the creates each row counted, a resend too
            assert (state.loc[key, "attempts"], state.loc[key, "orphans"]) == (jobs[key], 0), key
        asked = _asked(emu)
        for row, body in EDITED.items():
            old, new = asked[keys[row]]
            assert body in new
            assert body not in old
        unchanged = [key for key in keys if key not in edited]
        columns = ["status", "input_hash", "response_id", "output_text", "cost_usd", "updated_at"]
        assert state.loc[unchanged, columns].equals(before.loc[unchanged, columns])  # untouched
        cost_now, cost_then = state["cost_usd"].to_dict(), before["cost_usd"].to_dict()
        answered_now, answered_then = state["response_id"].to_dict(), before["response_id"].to_dict()
        for key in edited:  # what the first answer cost is kept, the second's added
            assert cost_now[key] > cost_then[key] > 0
            assert answered_now[key] != answered_then[key]
        out = pd.read_csv(tmp_path / "out.csv", dtype=str).set_index("ticket_id")
        assert set(out["rowrelay_status"]) == {"completed"}
        for row, body in EDITED.items():
            assert out.loc[keys[row], "body"] == body

        steady = rowrelay([*run_args(source, tmp_path), "--resend-edited"], env)
        assert steady.returncode == 0, steady.stderr[-3000:]
        assert "--resend-edited;" not in steady.stderr  # nothing edited since: nothing sent again
        assert jobs_of(emu.url)[0] == jobs


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_row_still_waiting_on_its_old_text_is_refused_before_anything_starts(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """Sent again while the response to its old text may still run, the row would be paid for twice and
    the old answer could land on the new text: refused in one line, exit 2, naming the ways on."""
    source = write_tickets(tmp_path / "tickets.csv", 4)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        trial = rowrelay([*run_args(source, tmp_path), "--limit", "3"], env)
        assert trial.returncode == 0, trial.stderr[-3000:]
        with StateTable.open(tmp_path / "state") as table:  # as a run killed while it waited left it
            table.transition("T-00003", "submitting")
            table.transition("T-00003", "queued", response_id="resp_left_waiting", attempts=1)
        _edit(source, {3: "Edited while its answer was on the way."})
        refused = rowrelay([*run_args(source, tmp_path), "--resend-edited"], env)
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert " ".join(refused.stderr.split()).endswith(
            "error: 1 row changed input while a response to its earlier text may still be running (e.g. "
            "T-00003): sent again now, both would be paid for, and the earlier one's answer could land on "
            f"the new text. Resume the batch over its earlier input to collect it, or `rowrelay cancel "
            f"{tmp_path / 'state'}` (it cancels every response of the batch in flight), then run with "
            "--resend-edited"
        )
        assert creates_per_row(emu) == Counter({f"T-{i:05d}": 1 for i in range(3)})
        assert load(tmp_path / "state").set_index("row_key").loc["T-00003", "status"] == "queued"


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_another_instructions_with_the_option_is_refused_nothing_sent(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """--resend-edited is for rows whose own text was edited. Another --instructions changes every row's
    input: with the option, the refusal naming it was skipped, and the run sent and paid for every row
    again with only a warning. Refused now as without the option, saying the option does not cover it;
    the server's jobs per row stay the one create each row counted."""
    source = write_tickets(tmp_path / "tickets.csv", 5)
    keys = [f"T-{i:05d}" for i in range(5)]
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        first = rowrelay(run_args(source, tmp_path), env)
        assert first.returncode == 0, first.stderr[-3000:]
        before = load(tmp_path / "state").set_index("row_key")
        changed = [*run_args(source, tmp_path), "--instructions", "Be terse.", "--resend-edited"]
        refused = rowrelay(changed, env)
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert " ".join(refused.stderr.split()).endswith(
            f"error: {tmp_path / 'state'}: this run's --instructions 'Be terse.' (it ran without one), so 5 "
            "rows would be sent otherwise than the batch planned them (e.g. T-00000, T-00001, T-00002, "
            "T-00003, T-00004): run it as the batch ran, or give it a state of its own (--state) to send "
            "every row this way; --resend-edited sends again only rows whose own input was edited, not "
            "every row a changed template or instructions changes"
        )
        jobs, _ = jobs_of(emu.url)
        assert jobs == Counter(dict.fromkeys(keys, 1))
        state = load(tmp_path / "state").set_index("row_key")
        assert (state["attempts"] == 1).all()  # each row's jobs are the creates it counted
        assert state.equals(before)


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_a_mistyped_template_with_the_option_from_python_is_refused_nothing_sent(
    prefect_api: str, tmp_path: Path
) -> None:
    """run_batch(resend_edited=True) (a deployment's scheduled run too) goes through no CLI check: the
    plan took every row a new template changed for an edited one and sent them all again. The flow now
    refuses it before it writes its record or sends anything."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.tasks.errors import UsageError

    source = write_tickets(tmp_path / "tickets.csv", 4)
    keys = [f"T-{i:05d}" for i in range(4)]
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        await run_batch(str(source), **flow_args(tmp_path, emu))
        before = load(tmp_path / "state").set_index("row_key")
        mistyped = flow_args(tmp_path, emu, template="Ticket {subject}", resend_edited=True)
        with pytest.raises(UsageError, match="resend_edited=True sends again only rows whose own input"):
            await run_batch(str(source), **mistyped)
        jobs, _ = jobs_of(emu.url)
    assert jobs == Counter(dict.fromkeys(keys, 1))
    state = load(tmp_path / "state").set_index("row_key")
    assert (state["attempts"] == 1).all()
    assert state.equals(before)
