"""The batch flow on a real Prefect API, against the emulator over a real socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import ROOT
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.last_run import ran_on
from tests.support.prefect_records import artifacts_of
from tests.support.runs import creates_per_row, flow_args
from tests.support.tickets import write_tickets


async def test_a_fresh_run_completes_every_row_and_writes_the_output_in_order(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 30)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.5"))) as emu:
        state = await run_batch(str(source), **flow_args(tmp_path, emu), return_state=True)
        assert set(creates_per_row(emu).values()) == {1}
    result = await state.aresult()
    assert result.all_completed
    assert result.counts["completed"] == 30
    output = pd.read_parquet(result.output)
    assert list(output["ticket_id"]) == [f"T-{i:05d}" for i in range(30)]
    assert (output["rowrelay_status"] == "completed").all()
    assert output["output_text"].str.len().min() > 0
    assert output["error"].isna().all()
    # This run's own artifacts: every test's batch of the same 30 tickets publishes under the same keys.
    assert state.state_details.flow_run_id is not None
    artifacts = {a.type: a for a in await artifacts_of(state.state_details.flow_run_id)}
    assert set(artifacts) == {"progress", "table"}  # nothing failed, so no failed-rows list
    assert artifacts["progress"].data == 100.0
    summary = {row["metric"]: row["value"] for row in orjson.loads(str(artifacts["table"].data))}
    assert summary["rows completed"] == 30


async def test_a_rerun_on_another_server_that_sends_nothing_keeps_the_batchs_server_on_record(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished batch run again on another server (where nothing is configured: the embedded emulator)
    sends nothing, and its record still names the server that answered. Recorded as the emulator's, the
    batch let the next run with new rows and no key fall back to the emulator, its answers beside the
    real ones, and refused the real backend the batch had run on."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.tasks.state import read_run_record

    source = write_tickets(tmp_path / "tickets.csv", 5)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    real = flow_args(tmp_path, emulator, backend="openai")  # its address as any OpenAI-compatible server's
    await run_batch(str(source), **real)
    again = await run_batch(str(source), **flow_args(tmp_path, emulator))  # the emulator: another server
    assert again.counts == {**dict.fromkeys(again.counts, 0), "completed": 5}
    assert set(creates_per_row(emulator).values()) == {1}  # it sent nothing
    record = read_run_record(Path(real["state"]))
    assert record is not None
    assert (record.backend, record.base_url) == ("openai", emulator.url)


async def test_a_dataframe_from_python_runs_too(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator
) -> None:
    from rowrelay.flows.batch import run_batch

    frame = pd.DataFrame({"question": ["What is 2+2?", "Name a colour.", "Say hi."]})
    args = flow_args(tmp_path, emulator, template=None, id_column=None, prompt_column="question")
    result = await run_batch(frame, **args)
    assert result.counts["completed"] == 3
    assert list(pd.read_parquet(result.output)["question"]) == list(frame["question"])


async def test_a_dataframe_keyed_by_its_index_keeps_it_in_the_output(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator
) -> None:
    """`set_index("ticket_id")`: the output had no ticket ids, and `id_column="ticket_id"` was refused as
    "not in the input"."""
    from rowrelay.flows.batch import run_batch

    frame = pd.DataFrame({"ticket_id": ["a-1", "b-2"], "question": ["What is 2+2?", "Say hi."]})
    frame = frame.set_index("ticket_id")
    args = flow_args(tmp_path, emulator, template=None, id_column="ticket_id", prompt_column="question")
    result = await run_batch(frame, **args)
    assert result.counts["completed"] == 2
    assert list(pd.read_parquet(result.output)["ticket_id"]) == ["a-1", "b-2"]
    assert set(load(result.state_dir)["row_key"]) == {"a-1", "b-2"}


async def test_failed_rows_are_in_the_output_with_their_error_and_retry_makes_them_eligible(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.state_commands import retry

    source = write_tickets(tmp_path / "tickets.csv", 30)
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), fail_rate=0.4, seed=4)
    with running_emulator(config) as emu:
        first = await run_batch(str(source), **flow_args(tmp_path, emu, max_attempts=1))
        failed = first.counts["failed"]
        assert 0 < failed < 30
        output = pd.read_parquet(first.output)
        bad = output[output["rowrelay_status"] == "failed"]
        assert len(bad) == failed
        assert bad["error"].str.len().min() > 0
        completed_before = set(output.loc[output["rowrelay_status"] == "completed", "ticket_id"])
        before = creates_per_row(emu)
        retry(tmp_path / "state", status="failed")
        second = await run_batch(str(source), **flow_args(tmp_path, emu, max_attempts=1))
        after = creates_per_row(emu)
    assert second.counts["failed"] < failed
    assert all(after[key] == before[key] for key in completed_before)  # completed rows never re-sent
    assert sum(after.values()) - sum(before.values()) == failed  # exactly one new create per retried row


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_killed_part_way_resumes_without_creating_any_row_twice(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 150)
    config = EmulatorConfig(latency=LatencySpec.parse("uniform:0.5,2"), seed=8)
    with running_emulator(config) as emu:
        args = flow_args(tmp_path, emu)
        script = (
            "import asyncio, json, sys\n"
            "from rowrelay.flows.batch import run_batch\n"
            "args = json.loads(sys.argv[2])\n"
            "asyncio.run(run_batch(sys.argv[1], **args))\n"
        )
        import json

        command = [sys.executable, "-c", script, str(source), json.dumps(args)]
        with (tmp_path / "killed.log").open("wb") as log:
            run = subprocess.Popen(command, cwd=ROOT, env=prefect_env, stdout=log, stderr=log)
            while not (tmp_path / "state" / "run.json").exists() or len(emu.emulator.listing()) < 60:
                assert run.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
                time.sleep(0.05)
            os.kill(run.pid, signal.SIGKILL)
            run.wait()
        mid = load(tmp_path / "state")
        assert (mid["status"] != "completed").any()  # it really was killed part-way
        rerun = subprocess.run(command, cwd=ROOT, env=prefect_env, capture_output=True, timeout=240)
        assert rerun.returncode == 0, rerun.stderr.decode()[-3000:]
        creates = creates_per_row(emu)
    final = load(tmp_path / "state")
    assert (final["status"] == "completed").all()
    orphans = dict(zip(final["row_key"], final["orphans"], strict=True))
    assert all(orphans[key] >= n - 1 for key, n in creates.items())
    assert set(creates) == set(final["row_key"])


async def test_a_flow_on_another_server_than_the_batchs_rows_holding_ids_fails_before_sending(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From Python too (`flows.same_server`): the emulator here never sees a create."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.tasks.dataset import InputSpec, prepare, read_input
    from rowrelay.tasks.errors import UsageError

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    source = write_tickets(tmp_path / "tickets.csv", 3)
    args = {**flow_args(tmp_path, emulator), "backend": "openai"}
    prepared = prepare(read_input(source), InputSpec(args["template"], id_column=args["id_column"]))
    planned = [(r.row_key, r.row_index, r.input_hash) for r in prepared.rows]
    statuses = ["queued", "pending", "pending"]  # without the check: 404, expired, created again here
    ran_on(tmp_path / "state", tmp_path / "out.parquet", "openai", "http://127.0.0.1:9/v1", statuses, planned)
    with pytest.raises(UsageError, match=r"1 row holds a response id from openai at http://127.0.0.1:9/v1"):
        await run_batch(str(source), **args)
    assert emulator.emulator.listing() == []


async def test_a_backend_without_its_key_fails_the_flow_before_anything_is_written(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.tasks.errors import UsageError

    for name in ("OPENAI_API_KEY", "ROWRELAY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    source = write_tickets(tmp_path / "tickets.csv", 3)
    with pytest.raises(UsageError, match=r"^no API key: set OPENAI_API_KEY"):
        await run_batch(
            str(source), template="{subject}", id_column="ticket_id", state=str(tmp_path / "state"),
            base_url="http://127.0.0.1:9/v1",
        )  # fmt: skip
    assert not (tmp_path / "state").exists()


async def test_an_edited_input_resumes_with_each_result_on_its_own_row(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator
) -> None:
    """The same state over an input sorted, filtered and extended since: every output row carries its
    own row's result, rows the input no longer holds are neither sent nor written, and nothing is
    created twice. The export once joined results by where each row was when first planned, so a
    sorted input paired one ticket with another's answer, and a removed row failed the export; the
    run's counts and progress covered the state's rows, not its input's."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.processing import progress_sink
    from rowrelay.tasks.run import Progress
    from rowrelay.tasks.state import StateTable

    source = write_tickets(tmp_path / "tickets.csv", 12)
    first = await run_batch(str(source), **flow_args(tmp_path, emulator))
    answers: dict[str, str] = dict(
        pd.read_parquet(first.output)[["ticket_id", "output_text"]].itertuples(index=False)
    )
    with StateTable.open(tmp_path / "state") as table:  # a row left pending by an input of its own
        table.add_pending([("T-STALE", 3, "some other input")])
    frame = pd.read_csv(source, dtype=str)
    new_row = frame.iloc[[0]].assign(ticket_id="T-NEW")
    edited = pd.concat([frame.iloc[::-1], new_row]).query("ticket_id != 'T-00005'")
    edited.to_csv(tmp_path / "edited.csv", index=False)
    seen: list[Progress] = []
    sink = progress_sink.set(seen.append)
    try:
        second = await run_batch(str(tmp_path / "edited.csv"), **flow_args(tmp_path, emulator))
    finally:
        progress_sink.reset(sink)
    output = pd.read_parquet(second.output)
    assert output["ticket_id"].tolist() == edited["ticket_id"].tolist()
    # the run's counts are its input's: the stale pending row would fail a nightly --fail-when-failed
    assert {status: n for status, n in second.counts.items() if n} == {"completed": len(edited)}
    assert second.all_completed
    # the progress line, too: it once ended at 13/14 rows, counting the stale rows
    assert (seen[-1].done, seen[-1].total) == (len(edited), len(edited))
    assert all(moment.total == len(edited) for moment in seen)

    assert (output["rowrelay_status"] == "completed").all()
    texts: dict[str, str] = dict(output[["ticket_id", "output_text"]].itertuples(index=False))
    assert {ticket: texts[ticket] for ticket in texts if ticket != "T-NEW"} == {
        ticket: answers[ticket] for ticket in texts if ticket != "T-NEW"
    }
    assert creates_per_row(emulator) == dict.fromkeys([*answers, "T-NEW"], 1)
    state = load(tmp_path / "state").set_index("row_key")["status"]
    assert state["T-STALE"] == "pending"
    assert state["T-00005"] == "completed"


async def test_progress_counts_the_batchs_time_across_its_shards(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each shard's runner counted elapsed time from its own start, so a 5,000-row batch of 1,000-row
    shards showed `2:30 elapsed`, then `0:20 elapsed` as the next shard began."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.processing import progress_sink
    from rowrelay.tasks.run import Progress

    monkeypatch.setenv("ROWRELAY_SHARD_SIZE", "2")
    source = write_tickets(tmp_path / "tickets.csv", 6)
    seen: list[Progress] = []
    sink = progress_sink.set(seen.append)
    try:
        with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:1"))) as emu:
            result = await run_batch(str(source), **flow_args(tmp_path, emu, max_in_flight=2))
    finally:
        progress_sink.reset(sink)
    assert result.all_completed
    assert len(seen) >= 3
    assert [moment.elapsed for moment in seen] == sorted(moment.elapsed for moment in seen)
    assert seen[-1].elapsed >= 3.0  # three shards, one after another, of one-second responses


async def test_a_changed_input_under_its_default_state_is_refused_where_it_would_send_rows_again(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A default state is named by the input's contents, so a DataFrame with two rows added got a batch of
    its own, which sent the three rows an earlier batch had answered again, paid twice, without a word.
    Now the flow refuses before anything is sent, naming that batch; resumed there, only the new rows go.
    The server here is an OpenAI-compatible one (the emulator's address, a key); on the emulator itself,
    where nothing is paid, the changed input simply runs as a batch of its own."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.tasks.errors import UsageError

    states = tmp_path / "states"
    monkeypatch.setenv("ROWRELAY_STATE_DIR", str(states))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    frame = pd.DataFrame({"question": [f"Question {i}?" for i in range(3)]})
    extended = pd.DataFrame({"question": [f"Question {i}?" for i in range(5)]})
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        output = str(tmp_path / "out.parquet")
        args = {"prompt_column": "question", "output": output, "backend": "openai", "base_url": emu.url}
        first = await run_batch(frame, **args)
        [earlier] = states.iterdir()
        with pytest.raises(UsageError) as refused:
            await run_batch(extended, **args)
        assert list(states.iterdir()) == [earlier]  # nothing made for the new batch
        assert len(emu.emulator.listing()) == 3
        resumed = await run_batch(extended, **args, state=str(earlier))
        jobs = creates_per_row(emu)
        emulated = await run_batch(extended, **{**args, "backend": "emulator"})
    assert emulated.counts["completed"] == 5
    assert len(list(states.iterdir())) == 2
    assert first.counts["completed"] == 3
    assert str(refused.value).startswith(
        f"3 rows of this input were already sent by {earlier}, a batch of an earlier DataFrame; as "
        "changed, the input gets a new default state ("
    )
    assert str(refused.value).endswith(
        f"paid twice: resume that batch over the changed input with state={earlier} (rows are matched "
        "by key; new rows are planned), or pass state=NEW_DIR to send them again"  # its parameter
    )
    assert resumed.counts["completed"] == 5
    assert sorted(jobs.values()) == [1] * 5
    assert_every_job_is_paid_for(load(earlier), jobs, Counter())


async def test_paths_from_python_are_taken_and_a_bad_value_is_the_clis_one_line(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator
) -> None:
    """`state` and `output` given as `pathlib.Path`s run (Prefect's own check of the flow's parameters
    refused them as not strings); a value of the wrong kind is rowrelay's one-line `UsageError`, as from
    the CLI, not Prefect's report of every parameter."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.tasks.errors import UsageError

    source = write_tickets(tmp_path / "tickets.csv", 3)
    args = {**flow_args(tmp_path, emulator), "state": tmp_path / "state", "output": tmp_path / "out.csv"}
    result = await run_batch(source, **args)
    assert result.counts["completed"] == 3
    assert len(pd.read_csv(tmp_path / "out.csv")) == 3
    with pytest.raises(UsageError) as refused:
        await run_batch(source, **{**args, "rpm": "fast"})
    assert str(refused.value) == "rpm: must be a whole number (got 'fast')"  # the parameter, as given


async def test_export_from_another_folder_writes_the_batchs_own_output(
    prefect_api: str, tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run given a relative output recorded it as given, so `rowrelay export STATE` from another folder
    wrote a new file there, not the batch's own output."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.export_command import export

    source = write_tickets(tmp_path / "tickets.csv", 3)
    monkeypatch.chdir(tmp_path)
    result = await run_batch(source, **{**flow_args(tmp_path, emulator), "output": "out.csv"})
    (tmp_path / "out.csv").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    export(tmp_path / "state")
    assert result.counts["completed"] == 3
    assert len(pd.read_csv(tmp_path / "out.csv")) == 3
    assert list(elsewhere.iterdir()) == []
