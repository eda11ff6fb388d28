"""What an operator of a nightly job sees in Prefect, read back from a real Prefect server's API: the flow
run's logs hold the batch's plan and summary, its final state tells a clean night from a bad one (Completed
with the counts below `--fail-when-failed`, Failed above it), it is named after the batch and tagged with
batch, model and backend (its task runs are not), and its progress artifact moves while the batch runs.

Rows fail deterministically: the emulator's `fail_rate` draws from its seed and the request.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import threading
import uuid
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.flows.outcome import FailThreshold, outcome_message
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.errors import FailWhenFailedError, UsageError
from rowrelay.tasks.state import load
from tests.support.cli import ROOT, env_for, rowrelay, run_args
from tests.support.prefect_records import artifacts_of, flow_run_on, logs_of, task_runs_of
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

ROWS = 10
FAILING = EmulatorConfig(fail_rate=0.3, seed=5)
"""Fails some but not all of ten rows (checked in each test: a check of nothing would pass)."""


def _failed_run(
    tmp_path: Path, prefect_env: dict[str, str], *extra: str, batch: str = "state"
) -> tuple[int, int]:
    """`rowrelay run` over ten tickets, one attempt a row, some failing, its state directory (so its batch
    id) `tmp_path/batch`; returns (exit code, rows failed)."""
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    args = run_args(source, tmp_path)
    args[args.index("--state") + 1] = str(tmp_path / batch)
    with running_emulator(FAILING) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_MAX_ATTEMPTS="1")
        result = rowrelay([*args, *extra], env)
    failed = int((load(tmp_path / batch)["status"] == "failed").sum())
    assert 0 < failed < ROWS, "the seed must fail some rows, not all"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "rowrelay.flow" not in result.stderr  # the story is the run's logs'; the console is as it was
    return result.returncode, failed


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_below_the_threshold_the_run_completes_with_the_counts_and_logs_plan_and_summary(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    code, failed = _failed_run(tmp_path, prefect_env, "--fail-when-failed", "90%", "--model", "gpt-4.1-nano")
    assert code == 1  # the CLI still says some rows did not complete
    run = await flow_run_on(tmp_path / "state")
    assert run.state is not None
    assert run.state.type.value == "COMPLETED"
    assert run.state.message == f"{failed} of {ROWS} rows did not complete ({failed} failed)"
    assert run.name == "state"  # the batch id: its state directory's name
    assert {"batch:state", "model:gpt-4.1-nano", "backend:emulator"} <= set(run.tags)
    # Its task runs carry none: Prefect would take a tag-concurrency lease at each one's start and end.
    tasks = await task_runs_of(run.id)
    assert {task.name.split("-")[0] for task in tasks} >= {"shard", "export"}, [t.name for t in tasks]
    assert [task.tags for task in tasks] == [[] for _ in tasks]
    logs = [log.message for log in await logs_of(run.id)]
    plan = [m for m in logs if m.startswith(f"batch state: {ROWS} rows")]
    assert len(plan) == 1, logs
    summary = [m for m in logs if m.startswith("batch state finished:")]
    assert len(summary) == 1, logs
    assert f"{ROWS - failed} of {ROWS} rows completed" in summary[0]
    kinds = [m for m in logs if m.startswith("rows that did not complete, by kind:")]
    assert kinds == [kinds[0]]
    assert f'{failed} failed/response_failed (e.g. "The server had an error' in kinds[0]
    assert any(m.startswith("requests: ") for m in logs)
    # Summarised, never a line per row: no row key appears in any log line.
    assert [m for m in logs if "T-000" in m] == []


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_above_the_threshold_the_run_ends_failed_with_the_counts(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    code, failed = _failed_run(tmp_path, prefect_env, "--fail-when-failed", "0")
    assert code == 1  # the same exit code: the rows' outcome, not a crash
    run = await flow_run_on(tmp_path / "state")
    assert run.state is not None
    assert run.state.type.value == "FAILED"
    assert run.state.message == (
        f"{failed} of {ROWS} rows did not complete ({failed} failed): past --fail-when-failed 0"
    )
    # What the README's automation matches on: the Failed event, related to the run's batch tag.
    related = await _failed_event_related(prefect_env["PREFECT_API_URL"], str(run.id))
    assert {"prefect.resource.id": "prefect.tag.batch:state", "prefect.resource.role": "tag"} in related


async def _failed_event_related(api: str, run_id: str) -> list[dict[str, str]]:
    """The related resources of the run's `prefect.flow-run.Failed` event (events are stored a moment
    after the state: waited for, within a bound)."""
    body = {
        "filter": {
            "event": {"name": ["prefect.flow-run.Failed"]},
            "resource": {"id": [f"prefect.flow-run.{run_id}"]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        }
    }
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(300):
            events = (await client.post(f"{api}/events/filter", json=body)).json()["events"]
            if events:
                related: list[dict[str, str]] = events[0]["related"]
                return related
            await asyncio.sleep(0.2)
    raise AssertionError("no prefect.flow-run.Failed event was stored for the run")


async def test_a_clean_run_completes_without_a_message_and_a_flow_parameter_sets_the_threshold(
    prefect_api: str, tmp_path: Path
) -> None:
    """From Python (a deployment's parameters reach the flow the same way): the threshold is a parameter."""
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig()) as emu:
        clean = await run_batch(str(source), **flow_args(tmp_path / "a", emu), return_state=True)
    assert clean.type.value == "COMPLETED"
    assert clean.message is None or "did not complete" not in clean.message
    with running_emulator(FAILING) as emu:
        args = flow_args(tmp_path / "b", emu, max_attempts=1, fail_when_failed="5%")
        failed = await run_batch(str(source), **args, return_state=True)
    assert failed.type.value == "FAILED"
    assert failed.message is not None
    assert failed.message.endswith("past fail_when_failed='5%'")  # the parameter, as given
    raised = await failed.aresult(raise_on_failure=False)
    assert isinstance(raised, FailWhenFailedError)  # an exception, as Prefect takes a Failed state's data
    assert raised.result.counts["failed"] > 0  # the batch's result is kept on the Failed state, in it
    await _flush_run_logs()


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_the_progress_artifact_moves_while_the_batch_runs(prefect_api: str, tmp_path: Path) -> None:
    """Some responses stay queued until cancelled (`stuck_rate`), so the batch is held part-way, as long as
    the test needs, with the other rows done: the artifact must show that from the API meanwhile. Rows
    are recorded as each one's end is seen (a streamed one at once, a polled one at its look), so the
    artifact may pass through lower shares first; it must come to the share the server has done."""
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with running_emulator(EmulatorConfig(stuck_rate=0.4, seed=3)) as emu:
        running = asyncio.create_task(run_batch(str(source), **flow_args(tmp_path, emu)))
        shown, done = -1.0, 0.0
        while not (0 < shown < 100 and shown == pytest.approx(done)):
            assert not running.done(), running
            await asyncio.sleep(0.2)
            try:
                run = await flow_run_on(tmp_path / "state")
            except AssertionError:
                continue  # not created yet
            progress = [a for a in await artifacts_of(run.id) if a.type == "progress"]
            if progress:
                stuck = sum(1 for r in emu.emulator.listing() if r["status"] == "queued")
                shown, done = float(str(progress[0].data)), 100.0 * (ROWS - stuck) / ROWS
        mid = await flow_run_on(tmp_path / "state")
        assert mid.state is not None
        assert mid.state.type.value == "RUNNING"
        running.cancel()  # as Ctrl-C does: the stuck responses are cancelled on the server
        with pytest.raises(BaseException):  # noqa: B017, PT011  # cancelled (or crashed) either way
            await running
    await _flush_run_logs()


async def _flush_run_logs() -> None:
    """Runs in this process send their logs in the background: sent now, while the server is up."""
    from prefect.logging.handlers import APILogHandler

    await APILogHandler.aflush()


@pytest.mark.parametrize("value", ["many", "-1", "101%", "2.5", "%", "nan%"])
def test_a_bad_threshold_exits_2_in_one_line_before_anything_starts(tmp_path: Path, value: str) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 2)
    result = CliRunner().invoke(
        app, ["run", str(source), "--template", "{subject}", "--fail-when-failed", value],
        env={"ROWRELAY_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --fail-when-failed: expected a row count")
    assert not (tmp_path / "home").exists()  # no server, no emulator, nothing started


def test_thresholds_tolerate_up_to_their_limit() -> None:
    count, share = FailThreshold.parse("3"), FailThreshold.parse(" 2.5% ")
    assert count is not None
    assert share is not None
    assert (count.exceeded(3, 100), count.exceeded(4, 100)) == (False, True)
    assert (share.exceeded(2, 80), share.exceeded(3, 80)) == (False, True)  # 2.5% and 3.75%
    assert (str(count), str(share)) == ("3", "2.5%")
    assert FailThreshold.parse(None) is None
    with pytest.raises(UsageError):
        FailThreshold.parse("3 rows")
    assert outcome_message({"completed": 5}) is None
    assert outcome_message({"completed": 5, "failed": 2, "expired": 3, "cancelled": 0}) == (
        "5 of 10 rows did not complete (3 expired, 2 failed)"
    )


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:  # the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_the_readmes_automation_notifies_when_a_nightly_run_fails(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    """The README's automation, as written there (with its tag made unique to this test, as the session's
    server is shared), against a webhook notification block: it fires once the run ends Failed."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    batch = f"nightly-{uuid.uuid4().hex[:8]}"
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        block = CustomWebhookNotificationBlock(
            name="ops", url=f"http://127.0.0.1:{hook.server_address[1]}/hook",
            json_data={"subject": "{{subject}}", "body": "{{body}}"},
        )  # fmt: skip
        block_id = await block.save(batch)
        readme = (ROOT / "README.md").read_text()
        example = re.search(r"```yaml\n# nightly-failed.yaml\n(.*?)```", readme, re.DOTALL)
        assert example is not None
        spec = yaml.safe_load(
            example.group(1)
            .replace("batch:nightly", f"batch:{batch}")
            .replace("<the block's id>", str(block_id))
        )
        async with get_client() as client:
            await client.create_automation(AutomationCore.model_validate(spec))
        code, failed = _failed_run(tmp_path, prefect_env, "--fail-when-failed", "0", batch=batch)
        assert code == 1
        for _ in range(600):
            if _Hook.received:
                break
            await asyncio.sleep(0.2)
        assert _Hook.received, "the automation sent nothing"
    finally:
        hook.shutdown()
    assert _Hook.received[0]["subject"] == f"rowrelay batch {batch} failed"
    assert _Hook.received[0]["body"].startswith(
        f"{failed} of {ROWS} rows did not complete ({failed} failed): past --fail-when-failed 0 (flow run "
    )
