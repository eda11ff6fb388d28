"""A nightly input whose ids changed form (`1` written `001`): its rows, which the batch sent, were each
sent and paid for again under their new ids, with only a warning. Refused now, in one line, before
anything starts (`rowrelay run`, exit 2) or is sent (`run_batch`); the changes a batch resumes over
(rows appended, rows deleted, ids read as numbers one night and text the next) go on as before, and an
edited row is refused as before. The emulator over a real socket; the server's jobs per row are
compared with each row's counts (`run.rekeyed_rows`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of

TEMPLATE = "Triage: {subject}: {body}"


def _night(path: Path, ids: list[int], written: str = "{}", edited: int | None = None) -> Path:
    """Tickets `ids` as CSV at `path`, their ids written as `written` says; ticket `edited`'s body
    edited."""
    bodies = [f"body of ticket {i}" + (" (edited)" if i == edited else "") for i in ids]
    frame = pd.DataFrame({"id": [written.format(i) for i in ids], "subject": [f"subject {i}" for i in ids]})
    frame.assign(body=bodies).to_csv(path, index=False)
    return path


def _run(source: Path, tmp_path: Path) -> list[str]:
    return [
        "run", str(source), "--template", TEMPLATE, "--id-column", "id",
        "--state", str(tmp_path / "state"), "--output", str(tmp_path / "out.csv"),
    ]  # fmt: skip


def _one_job_each(emu: RunningEmulator, ids: range, state: Path) -> None:
    """The server started one job for each of `ids`, and every job is counted on its row."""
    jobs, unanswered = jobs_of(emu.url)
    assert jobs == Counter({str(i): 1 for i in ids})
    assert_every_job_is_paid_for(load(state), jobs, unanswered)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_rows_under_ids_written_otherwise_are_refused_and_the_batchs_own_changes_resume(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        env = env_for(prefect_env, emu)
        first = rowrelay(_run(_night(tmp_path / "night1.csv", [*range(1, 9)]), tmp_path), env)
        assert first.returncode == 0, first.stderr[-3000:]
        _one_job_each(emu, range(1, 9), state)

        padded = rowrelay(_run(_night(tmp_path / "night2.csv", [*range(1, 9)], "{:03d}"), tmp_path), env)
        assert padded.returncode == 2, padded.stderr[-3000:]
        assert padded.stderr.strip().splitlines()[-1] == (
            "error: 8 rows this batch sent are in its input under other ids, asking the same (e.g. id 001 "
            "was 1, id 002 was 2, id 003 was 3 …): each would be sent, and paid for, again. Give the input "
            "its earlier ids to resume the batch; if they are new rows asking the same, keep the earlier "
            "rows in the input beside them (rows the batch answered are not sent again), or pass a new "
            "--state, which sends every row again"
        )
        _one_job_each(emu, range(1, 9), state)  # nothing sent

        moved_on = _night(tmp_path / "night3.csv", [1, 4, 5, 6, 7, 8, 9, 10])  # 2 and 3 gone, two new
        resumed = rowrelay(_run(moved_on, tmp_path), env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        _one_job_each(emu, range(1, 11), state)

        as_numbers = tmp_path / "night3.jsonl"  # ids read as integers: the same keys
        records = pd.read_csv(moved_on, dtype={"id": int}).to_dict("records")
        as_numbers.write_bytes(b"\n".join(orjson.dumps(record) for record in records))
        again = rowrelay(_run(as_numbers, tmp_path), env)
        assert again.returncode == 0, again.stderr[-3000:]
        _one_job_each(emu, range(1, 11), state)

        edited = _night(tmp_path / "night4.csv", [1, 4, 5, 6, 7, 8, 9, 10], edited=4)
        refused = rowrelay(_run(edited, tmp_path), env)
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert refused.stderr.strip().splitlines()[-1] == (
            "error: 1 row changed input since this batch sent it (e.g. 4); use a new --state directory for "
            "the new input, or restore the old one, or --resend-edited to send only it again, as edited "
            "(paid for again)"
        )
        _one_job_each(emu, range(1, 11), state)


async def test_run_batch_refuses_them_before_sending_and_a_default_state_says_to_restore_the_ids(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From Python, the plan refuses them before anything is sent. Under a default state, the changed
    file names a new batch, refused as one that would send an earlier batch's rows again: its advice,
    to resume that batch over the changed input, led to the same double payment; it now says to give
    the input its earlier ids first. The server is an OpenAI-compatible one (the emulator's address and
    a key): on the emulator, where nothing is paid, a changed input under its default state runs alone."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.tasks.errors import UsageError

    monkeypatch.setenv("ROWRELAY_STATE_DIR", str(tmp_path / "states"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    source = tmp_path / "feed.csv"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        args = {"template": TEMPLATE, "id_column": "id", "backend": "openai", "base_url": emu.url}
        first = await run_batch(str(_night(source, [*range(1, 7)])), **args)
        assert first.counts["completed"] == 6
        [earlier] = (tmp_path / "states").iterdir()
        _night(source, [*range(1, 7)], "{:02d}")
        with pytest.raises(UsageError) as by_default:
            await run_batch(str(source), **args)
        assert list((tmp_path / "states").iterdir()) == [earlier]  # nothing made for a new batch
        with pytest.raises(UsageError) as resumed:
            await run_batch(str(source), **args, state=str(earlier))
        _one_job_each(emu, range(1, 7), earlier)
    said = str(by_default.value)
    new_state = Path(said.split("new default state (")[-1].split(")")[0])
    assert (new_state.parent, new_state.name[:5]) == (tmp_path / "states", "feed-")
    assert said == (
        f"6 rows of this input were already sent by {earlier}, a batch of feed.csv before it changed, under "
        "other ids (e.g. id 01 was 1, id 02 was 2, id 03 was 3 …); as changed, the input gets a new default "
        f"state ({new_state}) that would send them again, paid twice: give the input its earlier ids and "
        f"resume that batch with state={earlier}, or pass state=NEW_DIR to send them again"
    )
    assert str(resumed.value).startswith("6 rows this batch sent are in its input under other ids")
