"""The `rowrelay` CLI: every command and every exit code, in real processes where it matters."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm.entra import SIGN_IN
from rowrelay.tasks.records import rows
from rowrelay.tasks.state import load
from tests.support.cli import env_for, exit_code, rowrelay, run_args, run_until_in_flight
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.finished_batch import finished_batch
from tests.support.local_prefect import stopped_afterwards
from tests.support.runs import creates_per_row
from tests.support.tickets import write_tickets
from tests.support.web_page import web_page_server

# --- usage errors: exit 2 before anything is sent (in-process: they never reach Prefect) ----------


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        ("missing", [], "input file not found: {source}"),
        (
            "tickets",
            ["--id-column", "nope"],
            "id column 'nope' is not in the input (available: ticket_id, subject, body)",
        ),
        (
            "tickets",
            ["--template", "Hello {missing_column}"],
            "template names column(s) not in the input: missing_column (available: ticket_id, subject, body)",
        ),
        ("empty", [], "{source} has no rows: nothing to send"),
        ("duplicates", [], "id column 'ticket_id' has 1 duplicated value(s): 'a' ×2 (ids must be unique)"),
        ("tickets", ["--mode", "sometimes"], "--mode: must be 'poll' or 'stream' (got 'sometimes')"),
        ("tickets", ["--limit", "0"], "--limit: must be a whole number of rows, at least 1 (got 0)"),
        (
            "tickets",
            ["--template", "Hello {"],
            "malformed template: Single '{{' encountered in format string "
            "(write {{{{ and }}}} for literal braces): 'Hello {{'",
        ),
    ],
)
def test_bad_input_or_options_exit_2_and_send_nothing(
    tmp_path: Path, emulator: RunningEmulator, setup: str, extra: list[str], message: str
) -> None:
    source = tmp_path / "input.csv"
    if setup == "tickets":
        write_tickets(source, 5)
    elif setup == "empty":
        source.write_text("ticket_id,subject,body\n")
    elif setup == "duplicates":
        pd.DataFrame(
            {"ticket_id": ["a", "a", "b"], "subject": ["x", "y", "z"], "body": ["1", "2", "3"]}
        ).to_csv(source, index=False)
    args = [
        "run",
        str(source),
        "--template",
        "{subject}",
        "--id-column",
        "ticket_id",
        "--backend",
        "emulator",
        "--base-url",
        emulator.url,
    ]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {message.format(source=source)}\n"
    assert emulator.emulator.listing() == []
    assert not (tmp_path / "state").exists()


def test_options_help_is_printed_as_written() -> None:
    """typer reads help as rich markup, where `[agents]` is a style: `needs rowrelay[agents]` lost it."""
    from rowrelay.tasks.settings import Settings

    shown = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "2000"})
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    for name in ("backend", "model", "max_cost"):
        assert str(Settings.model_fields[name].description) in text, name
    assert "needs rowrelay[agents])" in text
    # the settings' defaults, which typer cannot show for options whose own default is None
    for said in ("(default 500; env ROWRELAY_RPM)", "(default 3,600; env ROWRELAY_GIVE_UP_AFTER)",
                 "(default poll; env ROWRELAY_MODE)", "(env ROWRELAY_MAX_COST)"):  # fmt: skip
        assert said in text, said


def test_ctrl_c_while_the_input_is_checked_says_nothing_was_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a big input takes seconds: Ctrl-C then exited 130 without a word."""
    from rowrelay.flows import precheck

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(precheck, "read_checked", interrupted)
    source = write_tickets(tmp_path / "tickets.csv", 3)
    result = CliRunner().invoke(app, run_args(source, tmp_path))
    assert result.exit_code == 130, result.output
    assert result.output.strip() == (
        "interrupted while checking the run, before anything started: nothing was sent"
    )
    assert not (tmp_path / "state").exists()


def test_status_export_and_repair_of_something_that_is_not_a_batch_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    not_a_batch = f"error: {tmp_path} is not a rowrelay state directory (no batch.json)\n"
    for args in (
        ["status", str(tmp_path)],
        ["export", str(tmp_path), "--output", str(tmp_path / "x.csv")],
        ["repair", str(tmp_path)],
    ):
        result = runner.invoke(app, args)
        assert (result.exit_code, result.stderr) == (2, not_a_batch), args
    # Only the statuses a row is sent again from: a queued row moved to pending failed mid-command on
    # the transition table ("illegal transition in_progress -> pending"), and `--status` listed it.
    refused = runner.invoke(app, ["retry", str(tmp_path), "--status", "completed"])
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: --status takes failed, incomplete, cancelled, expired, orphaned; not completed\n"
    )
    unknown = runner.invoke(app, ["retry", str(tmp_path), "--status", "failed,bogus,worse"])
    assert (unknown.exit_code, unknown.stderr.endswith("; not bogus, worse\n")) == (2, True), unknown.stderr
    in_flight = runner.invoke(app, ["retry", str(tmp_path), "--status", "failed,in_progress"])
    assert in_flight.exit_code == 2
    assert in_flight.stderr.startswith(
        "error: --status takes failed, incomplete, cancelled, expired, orphaned; not in_progress: those rows "
        "hold a response the server may still be working on; run the batch again to collect it, or "
        f"`rowrelay cancel {tmp_path}` to stop it"
    ), in_flight.stderr


def test_export_refuses_an_output_it_could_not_write_before_reading_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["export", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x.xlsx")]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --output {tmp_path / 'x.xlsx'}: unknown output extension '.xlsx' "
        "(use one of .parquet, .pq, .csv, .tsv, .jsonl, .ndjson)\n"
    )


def test_export_refuses_to_write_over_the_batchs_input(tmp_path: Path, emulator: RunningEmulator) -> None:
    state = finished_batch(emulator, tmp_path, 3)
    source = tmp_path / "tickets.csv"
    before = source.read_bytes()
    result = CliRunner().invoke(app, ["export", str(state), "--output", str(source)])
    assert result.exit_code == 2
    assert result.stderr == f"error: --output {source}: the input file itself: the output would replace it\n"
    assert source.read_bytes() == before


def test_export_of_a_batch_whose_input_moved_asks_for_where_it_is_now(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    state = finished_batch(emulator, tmp_path, 3)
    source, moved = tmp_path / "tickets.csv", tmp_path / "moved.csv"
    source.rename(moved)
    output = tmp_path / "out.csv"
    refused = CliRunner().invoke(app, ["export", str(state), "--output", str(output)])
    assert (refused.exit_code, refused.stderr) == (
        2,
        f"error: this batch's input {source} is not there any more: pass --input with where it is now\n",
    )
    assert not output.exists()
    given = CliRunner().invoke(app, ["export", str(state), "--output", str(output), "--input", str(moved)])
    assert given.exit_code == 0, given.stderr
    assert len(pd.read_csv(output)) == 3


def test_export_refuses_an_input_whose_rows_changed_since_the_batch_ran_them(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    """It wrote each changed row's new text beside the answer to its old one, as if it answered it; a
    row new in the input is written with no result, and a moved input is given with --input."""
    state = finished_batch(emulator, tmp_path, 3)
    source = tmp_path / "tickets.csv"
    original = tmp_path / "original.csv"
    original.write_bytes(source.read_bytes())
    edited = pd.read_csv(source, dtype=str)
    edited.loc[1, "body"] = "Something else entirely."
    pd.concat([edited, edited.iloc[[0]].assign(ticket_id="T-NEW")]).to_csv(source, index=False)
    output = tmp_path / "out.csv"
    refused = CliRunner().invoke(app, ["export", str(state), "--output", str(output)])
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: 1 row of {source} changed since the batch ran it (e.g. T-00001): its result answers the "
        "earlier text; pass the input the batch ran with --input, or run the batch over this one with "
        "rowrelay run --resend-edited, which sends only the edited rows again (paid for again)\n"
    )
    assert not output.exists()
    written = CliRunner().invoke(
        app, ["export", str(state), "--output", str(output), "--input", str(original)]
    )
    assert written.exit_code == 0, written.stderr
    assert (pd.read_csv(output)["rowrelay_status"] == "completed").all()
    pd.concat([edited.iloc[[0, 2]], edited.iloc[[0]].assign(ticket_id="T-NEW")]).to_csv(source, index=False)
    assert CliRunner().invoke(app, ["export", str(state), "--output", str(output)]).exit_code == 0
    assert pd.read_csv(output)["rowrelay_status"].tolist()[:2] == ["completed", "completed"]


def test_cancel_and_retry_of_a_finished_batch_say_there_was_nothing_to_do(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    """They said "cancelled 0 in-flight responses; run the batch again to resume the rest" and "0 rows
    made eligible again; run the batch again to send them", where nothing is left to run."""
    state = finished_batch(emulator, tmp_path, 3)
    cancelled = CliRunner().invoke(app, ["cancel", str(state)])
    assert (cancelled.exit_code, cancelled.output) == (0, "nothing was in flight: no response to cancel\n")
    retried = CliRunner().invoke(app, ["retry", str(state), "--status", "failed,expired"])
    assert (retried.exit_code, retried.output) == (
        0,
        "no row is failed or expired: nothing to make eligible again\n",
    )


def test_status_says_what_orphans_are_when_there_are_some(tmp_path: Path) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), gateway_error_rate=1.0)
    with running_emulator(config) as emu:
        state = finished_batch(emu, tmp_path, 2)
        jobs = sum(creates_per_row(emu).values())
    shown = CliRunner().invoke(app, ["status", str(state)])
    assert shown.exit_code == 0, shown.output
    assert f"orphans {jobs} (creates whose answer was lost: possible duplicate jobs)" in shown.output
    assert 'did not complete: 2 orphaned/maybe_created (e.g. "server error (502)' in shown.output


def test_status_json_gives_a_script_the_same_facts_as_one_object(tmp_path: Path) -> None:
    """A nightly job's monitor reads counts and failures from `status --json` instead of scraping the
    table: stdout holds the one object, the same facts `status` prints."""
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), fail_rate=1.0)
    with running_emulator(config) as emu:
        state = finished_batch(emu, tmp_path, 3)
    shown = CliRunner().invoke(app, ["status", str(state), "--json"])
    assert shown.exit_code == 0, shown.output
    facts = json.loads(shown.stdout)
    assert (facts["batch"], facts["state"], facts["rows"]) == (state.name, str(state), 3)
    assert {status: n for status, n in facts["counts"].items() if n} == {"failed": 3}
    [kind] = facts["not_completed"]
    assert (kind["status"], kind["error_type"], kind["rows"]) == ("failed", "response_failed", 3)
    text = CliRunner().invoke(app, ["status", str(state)]).output
    assert f"tokens in {facts['input_tokens']:,} out {facts['output_tokens']:,}" in text
    assert 'did not complete: 3 failed/response_failed (e.g. "' in text


def test_status_export_and_repair_print_names_with_brackets_as_they_are(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    """rich read `[v2]` as a style and dropped it from the batch's name and the paths it printed."""
    state = finished_batch(emulator, tmp_path, 3).rename(tmp_path / "batch[v2]")
    status = CliRunner().invoke(app, ["status", str(state)])
    assert status.exit_code == 0, status.output
    assert "batch batch[v2]" in status.output
    assert "orphans 0\n" in status.output  # no explanation of what there is none of
    lines = status.output.splitlines()  # each fact whole on its line, however wide the console
    assert any(line.startswith("cost $") and line.endswith("(cached input tokens 0)") for line in lines)
    output = tmp_path / "out[red].csv"
    exported = CliRunner().invoke(app, ["export", str(state), "--output", str(output)])
    assert exported.output == f"wrote {output}\n"
    repaired = CliRunner().invoke(app, ["repair", str(state), "--dry-run"])
    assert repaired.output == f"no damaged files in {state}: nothing to repair\n"


# --- real runs ---------------------------------------------------------------------------------


def task_runs(prefect_env: dict[str, str], state: Path, name: str) -> int:
    """Task runs whose name holds `name` in the batch flow runs on `state`: the session's Prefect server
    is shared by the xdist workers, and a count of every run's took in other tests' runs meanwhile."""
    api, page_size = prefect_env["PREFECT_API_URL"], 200
    runs: list[dict[str, Any]] = []
    while True:
        named = {"flows": {"name": {"any_": ["rowrelay-batch"]}}, "limit": page_size, "offset": len(runs)}
        page = httpx.post(f"{api}/flow_runs/filter", json=named).json()
        runs.extend(page)
        if len(page) < page_size:
            break
    ids = [run["id"] for run in runs if run["parameters"].get("state") == str(state)]
    body = {"flow_runs": {"id": {"any_": ids}}, "task_runs": {"name": {"like_": name}}}
    count: int = httpx.post(f"{api}/task_runs/count", json=body).json()
    return count


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_run_completes_then_the_same_command_resumes_and_status_and_export_work(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 25)
    with (
        running_emulator(EmulatorConfig(latency=LatencySpec.parse("uniform:0.05,0.4"))) as emu,
        stopped_afterwards(tmp_path / "home") as home,
    ):
        # A home of its own: a runner for this import-time environment would replace the session's.
        env = env_for(prefect_env, emu, ROWRELAY_HOME=str(home))
        env.pop("PREFECT_LOGGING_LEVEL")  # what a user's shell has: the CLI decides what Prefect prints
        before = {name: task_runs(prefect_env, tmp_path / "state", name) for name in ("load-input", "plan")}
        first = rowrelay(run_args(source, tmp_path), env)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "INFO prefect" not in first.stderr  # Prefect's per-task lines only with --verbose
        # The CLI read and checked the input before Prefect started; the flow run reuses that reading.
        assert task_runs(prefect_env, tmp_path / "state", "plan") == before["plan"] + 1
        assert task_runs(prefect_env, tmp_path / "state", "load-input") == before["load-input"]
        assert "completed" in first.stderr
        assert str(tmp_path / "out.csv") in first.stderr
        again = rowrelay(run_args(source, tmp_path), env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(emu.emulator.listing()) == 25  # the second run sent nothing
        assert "25/25" in again.stderr  # and its progress bar says so (not `0/? starting`)
    status = rowrelay(["status", str(tmp_path / "state")], env)
    assert status.returncode == 0
    assert "completed" in status.stdout
    assert "25" in status.stdout
    exported = rowrelay(["export", str(tmp_path / "state"), "--output", str(tmp_path / "again.jsonl")], env)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in (tmp_path / "again.jsonl").read_text().splitlines()]
    assert [r["ticket_id"] for r in rows] == [f"T-{i:05d}" for i in range(25)]
    assert {r["rowrelay_status"] for r in rows} == {"completed"}
    assert list(pd.read_csv(tmp_path / "out.csv")["ticket_id"]) == [f"T-{i:05d}" for i in range(25)]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_trial_on_a_few_rows_keeps_its_results_and_the_whole_run_sends_only_the_rest(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """`--limit 4` sends the first four rows and exits 0 (every row it was to take completed); the batch
    is still the whole input's, so the same command without it sends the other six, and no row is paid
    for twice."""
    source = write_tickets(tmp_path / "tickets.csv", 10)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.1"))) as emu:
        env = env_for(prefect_env, emu)
        trial = rowrelay([*run_args(source, tmp_path), "--limit", "4"], env)
        assert trial.returncode == 0, trial.stderr[-3000:]
        # one line, where stderr is not a terminal (rich cut it at 80 columns)
        assert (
            "--limit: 6 rows left for a later run; the same command without --limit sends them\n"
            in trial.stderr
        )
        # Its progress counts the rows it takes, not the whole input's (where the first line lands depends
        # on the machine's load: `rows 2/4` on a busy one).
        assert re.search(r"\brows [0-4]/4 ", trial.stderr), trial.stderr[-3000:]
        assert not re.search(r"\brows \d+/10\b", trial.stderr), trial.stderr[-3000:]
        assert sorted(creates_per_row(emu)) == [f"T-{i:05d}" for i in range(4)]
        out = pd.read_csv(tmp_path / "out.csv")
        assert list(out["ticket_id"]) == [f"T-{i:05d}" for i in range(10)]  # the batch as it stands
        assert list(out["rowrelay_status"]) == ["completed"] * 4 + ["pending"] * 6
        whole = rowrelay(run_args(source, tmp_path), env)
        assert whole.returncode == 0, whole.stderr[-3000:]
        jobs = creates_per_row(emu)
    assert jobs == Counter({f"T-{i:05d}": 1 for i in range(10)})
    assert_every_job_is_paid_for(load(tmp_path / "state"), jobs, Counter())
    assert set(pd.read_csv(tmp_path / "out.csv")["rowrelay_status"]) == {"completed"}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_base_url_that_is_not_the_api_stops_the_run_in_one_line_and_counts_each_create(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """A base URL where a web server answers with its page (200): each create was sent three times, each
    counted as a stream that ended early, and the run ended as if the server were the API. Now: exit 2,
    one line saying what answered and what to check, and each create the server got counted on its row."""
    source = write_tickets(tmp_path / "tickets.csv", 6)
    with web_page_server() as (url, served):
        env = {
            **prefect_env,
            "ROWRELAY_BACKEND": "openai",
            "ROWRELAY_BASE_URL": url,
            "OPENAI_API_KEY": "sk-x",
        }
        done = rowrelay(run_args(source, tmp_path), env)
    assert done.returncode == 2, done.stderr[-3000:]
    said = done.stderr.splitlines()[-1]
    assert said.startswith(
        f"error: POST {url}/responses was answered 200 (text/html: <html><body><h1>Welcome"
    )
    assert (
        "which is not the API's answer: check the base URL (the API's most often ends in /v1), or, for a "
        "server without the Responses API (vLLM, Ollama, LM Studio), --backend chat sends Chat Completions. "
    ) in said
    assert said.endswith(
        "The run stopped; each create so answered is counted on its row, in case it started a job"
    )
    frame = load(tmp_path / "state")
    assert int(frame["attempts"].sum()) == served.count("POST /v1/responses") > 0
    assert frame["attempts"].max() == 1


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_mistyped_model_stops_the_run_in_one_line_and_the_corrected_command_sends_each_row_once(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """The server's 404 `model_not_found` (the emulator's `--models`) is about the run, not a row: exit 2
    with the server's words, no job started and no attempt spent; the command with the model corrected
    then sends every row once."""
    source = write_tickets(tmp_path / "tickets.csv", 6)
    served = EmulatorConfig(models=("gpt-4.1-mini",), latency=LatencySpec.parse("fixed:0.1"))
    with running_emulator(served) as emu:
        env = env_for(prefect_env, emu)
        typo = rowrelay([*run_args(source, tmp_path), "--model", "gpt-4.1-mnii"], env)
        assert typo.returncode == 2, typo.stderr[-3000:]
        assert typo.stderr.splitlines()[-1] == (
            "error: the backend refused this batch, so the run stopped: the server has no such endpoint or"
            " model (404): The model `gpt-4.1-mnii` does not exist or you do not have access to it; fix"
            " that, then run it again"
        )
        assert emu.emulator.jobs_listing() == []
        frame = load(tmp_path / "state")
        assert (set(frame["status"]), set(frame["attempts"])) == ({"pending"}, {0})
        fixed = rowrelay([*run_args(source, tmp_path), "--model", "gpt-4.1-mini"], env)
        assert fixed.returncode == 0, fixed.stderr[-3000:]
        jobs = creates_per_row(emu)
    assert jobs == Counter({f"T-{i:05d}": 1 for i in range(6)})
    assert_every_job_is_paid_for(load(tmp_path / "state"), jobs, Counter())


def test_azure_with_entra_id_and_no_identity_stops_in_one_line_before_sending_anything(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """`ROWRELAY_AZURE_AUTH=entra` through the real azure-identity: on a machine with no Azure identity
    (none here: no service principal variables, no managed identity, no `az`), `DefaultAzureCredential`
    gives no token, and the run stops at its first create, exit 2, saying so and how to sign in. Nothing
    reached the server and no row spent an attempt."""
    source = write_tickets(tmp_path / "tickets.csv", 4)
    with running_emulator(EmulatorConfig()) as emu:
        env = {
            name: value for name, value in prefect_env.items() if not name.startswith(("AZURE_", "OPENAI_"))
        }
        env.update(
            ROWRELAY_BACKEND="azure", ROWRELAY_AZURE_AUTH="entra", AZURE_CONFIG_DIR=str(tmp_path / "az"),
            AZURE_OPENAI_ENDPOINT=emu.url.removesuffix("/v1"),
        )  # fmt: skip
        result = rowrelay([*run_args(source, tmp_path), "--model", "my-deployment"], env)
        asked = sum(emu.emulator.status_codes.values())
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.splitlines()[-1]
    assert last.startswith(
        "error: the backend refused this batch, so the run stopped: Microsoft Entra ID gave no token for "
        "Azure OpenAI (DefaultAzureCredential failed to retrieve a token from the included credentials"
    ), last
    assert last.endswith(f"): {SIGN_IN}; fix that, then run it again"), last
    assert asked == 0
    frame = load(tmp_path / "state")
    assert (set(frame["status"]), set(frame["attempts"])) == ({"pending"}, {0})


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_failed_rows_exit_1_and_retry_makes_them_eligible_again(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 20)
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), fail_rate=0.5, seed=3)
    with running_emulator(config) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_MAX_ATTEMPTS="1")
        first = rowrelay(run_args(source, tmp_path), env)
        assert first.returncode == 1, first.stderr[-3000:]
        failed = int((load(tmp_path / "state")["status"] == "failed").sum())
        assert failed > 0
        retried = rowrelay(["retry", str(tmp_path / "state")], env)
        assert retried.returncode == 0
        assert f"{rows(failed)} made eligible again" in retried.stdout
        assert (load(tmp_path / "state")["status"] == "pending").sum() == failed
        rowrelay(run_args(source, tmp_path), env)
        creates = Counter(r["metadata"]["rowrelay_row"] for r in emu.emulator.listing())
    assert sum(creates.values()) == 20 + failed  # exactly the failed rows were sent again


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_cancel_stops_the_server_side_work_of_a_crashed_run(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 10)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:120"))) as emu:
        env = env_for(prefect_env, emu)
        # every id durable, then crash
        run = run_until_in_flight(
            run_args(source, tmp_path), env, tmp_path / "state", 10, tmp_path / "run.log"
        )
        os.kill(run.pid, signal.SIGKILL)  # a crash: the server keeps working
        run.wait()
        assert {r["status"] for r in emu.emulator.listing()} <= {"queued", "in_progress"}
        cancelled = rowrelay(["cancel", str(tmp_path / "state")], env)
        assert cancelled.returncode == 0, cancelled.stderr
        state = tmp_path / "state"
        assert cancelled.stdout == (
            "10 in-flight responses were cancelled; the cancelled rows stay cancelled, which a run does "
            f"not send again: `rowrelay retry {state} --status cancelled` makes them eligible again, then "
            "run the batch again to send them and the rest\n"
        )
        assert {r["status"] for r in emu.emulator.listing()} == {"cancelled"}
    assert set(load(tmp_path / "state")["status"]) == {"cancelled"}


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize(
    ("signum", "code", "said"), [(signal.SIGINT, 130, "interrupted: "), (signal.SIGTERM, 143, "terminated: ")]
)
def test_a_run_stopped_by_ctrl_c_or_sigterm_cancels_its_work_and_says_how_to_resume(
    prefect_env: dict[str, str], tmp_path: Path, signum: int, code: int, said: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 10)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:120"))) as emu:
        env = env_for(prefect_env, emu)
        log_path = tmp_path / "run.log"
        run = run_until_in_flight(run_args(source, tmp_path), env, tmp_path / "state", 10, log_path)
        run.send_signal(signum)
        assert exit_code(run, log_path, within=120) == code, log_path.read_text()[-3000:]
        said_last = log_path.read_text().strip().splitlines()[-1]
        assert "Traceback" not in log_path.read_text()
        assert "Crash detected" not in log_path.read_text(), "a stop the user asked for is no crash"
        assert "Crashed(" not in log_path.read_text()
        assert (
            said_last
            == f"{said}10 in-flight responses were cancelled; run the same command to resume (it sends them "
            "again)"
        )
        assert {r["status"] for r in emu.emulator.listing()} == {"cancelled"}
    assert set(load(tmp_path / "state")["status"]) == {"cancelled"}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_run_stopped_while_its_server_is_down_says_it_could_not_cancel_its_responses(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """Ctrl-C once the server has gone: the cancels find nothing listening, so the responses may run on
    and be paid for. The closing line says so, with what tries again, instead of saying they were
    cancelled; the rows keep their response ids for the next run."""
    source = write_tickets(tmp_path / "tickets.csv", 10)
    log_path, state = tmp_path / "run.log", tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:120"))) as emu:
        run = run_until_in_flight(run_args(source, tmp_path), env_for(prefect_env, emu), state, 10, log_path)
    run.send_signal(signal.SIGINT)  # the emulator stopped as its block ended
    assert exit_code(run, log_path, within=120) == 130, log_path.read_text()[-3000:]
    said_last = log_path.read_text().strip().splitlines()[-1]
    assert said_last.startswith(
        "interrupted: 0 in-flight responses were cancelled, but 10 rows could not be cancelled (last: "
    ), said_last
    assert said_last.endswith(
        f": their responses may still run, and be paid for; `rowrelay cancel {state}` tries again, or run "
        "the same command to resume"
    ), said_last
    frame = load(state)
    assert set(frame["status"]) <= {"queued", "in_progress"}
    assert frame["response_id"].notna().all()


SIGTERM_FROM_A_POLL = """
import asyncio, os, signal, sys
from pathlib import Path
from rowrelay.tasks.llm.responses_backend import ResponsesBackend
marker, retrieve = Path(sys.argv.pop(1)), ResponsesBackend.retrieve
async def polled(self, response_id):
    if marker.exists():
        marker.unlink()
        {signal}
    return await retrieve(self, response_id)
ResponsesBackend.retrieve = polled
from rowrelay.flows.cli import app
app(prog_name="rowrelay")
"""
SIGNALLED_FROM = {
    # Prefect's handler raises inside the row's poll: the exception goes through the flow
    "a row's poll": "os.kill(os.getpid(), signal.SIGTERM)",
    # it raises inside a plain callback of the loop, where asyncio swallows it (flows/termination.py)
    "an event-loop callback": "asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)",
}


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("where", list(SIGNALLED_FROM))
def test_a_sigterm_that_lands_inside_a_coroutine_or_a_callback_stops_the_run_as_any_sigterm_does(
    prefect_env: dict[str, str], tmp_path: Path, where: str
) -> None:
    """Prefect raises SIGTERM as an exception wherever the main thread is. Here it lands inside a row's
    poll, or in a callback the loop runs (where asyncio catches it and only logs it: that run went on
    until its responses completed), rather than the event loop itself; the process signals itself from
    there once a marker file appears. The run still cancels its work, says so in its one line, and exits
    143, as for any SIGTERM."""
    source = write_tickets(tmp_path / "tickets.csv", 10)
    marker = tmp_path / "sigterm-now"
    script = SIGTERM_FROM_A_POLL.replace("{signal}", SIGNALLED_FROM[where])
    command = [sys.executable, "-P", "-c", script, str(marker)]
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:120"))) as emu:
        env = {**env_for(prefect_env, emu), "ROWRELAY_POLL_STREAMS": "0"}  # every row polled
        log_path = tmp_path / "run.log"
        run = run_until_in_flight(
            run_args(source, tmp_path), env, tmp_path / "state", 10, log_path, command=command
        )
        marker.touch()
        assert exit_code(run, log_path, within=120) == 143, log_path.read_text()[-3000:]
        assert not marker.exists()  # it was a poll that signalled
        said_last = log_path.read_text().strip().splitlines()[-1]
        assert "Traceback" not in log_path.read_text()
        assert (
            said_last
            == "terminated: 10 in-flight responses were cancelled; run the same command to resume (it sends "
            "them again)"
        )
        assert {r["status"] for r in emu.emulator.listing()} == {"cancelled"}
    assert set(load(tmp_path / "state")["status"]) == {"cancelled"}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_problem_found_during_the_run_is_one_line_on_the_console_and_whole_in_prefects_logs(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """A server that answers nothing (here nothing listens at its address) stops the run once
    --give-up-after passes, a problem found only while the run goes: the console gets the command's one
    line, not Prefect's tracebacks, which stay in the flow run's logs."""
    source = write_tickets(tmp_path / "tickets.csv", 3)
    env = {**prefect_env, "ROWRELAY_BACKEND": "openai", "ROWRELAY_BASE_URL": "http://127.0.0.1:9/v1",
           "OPENAI_API_KEY": "sk-test"}  # fmt: skip
    refused = rowrelay([*run_args(source, tmp_path), "--give-up-after", "1"], env)
    problem = "the server has answered no request for 1 s (last: connection problem"
    assert refused.returncode == 1, refused.stderr[-3000:]  # rows did not complete; nothing to fix here
    assert refused.stderr.splitlines()[-1].startswith(f"error: {problem}"), refused.stderr
    assert "Traceback" not in refused.stderr
    assert not [line for line in refused.stderr.splitlines() if line.startswith("ERROR")]
    logs = httpx.post(
        f"{prefect_env['PREFECT_API_URL']}/logs/filter",
        json={"sort": "TIMESTAMP_DESC", "limit": 20},
        timeout=30,
    ).json()
    assert any(problem in log["message"] and log["level"] == 40 for log in logs)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_with_no_key_or_url_run_starts_the_embedded_emulator_and_reuses_it(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 8)
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in prefect_env.items()
        if not key.startswith(("OPENAI_", "AZURE_OPENAI_", "ROWRELAY_"))
    }
    env.update(ROWRELAY_HOME=str(home), ROWRELAY_EMULATOR_ARGS="--latency fixed:0.1")
    with stopped_afterwards(home):  # the emulator, and the runner the first run left
        first = rowrelay(run_args(source, tmp_path), env)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "started the embedded emulator" in first.stderr
        info = json.loads((home / "emulator.json").read_text())
        second = rowrelay(run_args(source, tmp_path), env)
        assert second.returncode == 0, second.stderr[-3000:]
        # every default run's normal course: no warning, the closing line naming the backend
        assert "reusing the embedded emulator" not in second.stderr
        assert "WARNING" not in second.stderr
        assert "backend: emulator" in second.stderr
        told = rowrelay([*run_args(source, tmp_path), "-v"], env)  # said where it is asked for
        assert "INFO rowrelay.backend: reusing the embedded emulator" in told.stderr, told.stderr[-3000:]
        assert json.loads((home / "emulator.json").read_text())["pid"] == info["pid"]
