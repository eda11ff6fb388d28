"""A run killed outright (`kill -9`, the out-of-memory killer, a reboot) stayed `Running` in Prefect for
ever, though the next run knew from its stale lease that its process was gone. The run that takes its
batch over now marks that flow run `Crashed`, saying why and which run resumed the batch; a Prefect API
that cannot mark it is one warning, and the run goes on (flows/killed_runs.py)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from rowrelay.flows.batch import run_batch
from rowrelay.flows.killed_runs import mark_killed_holder_crashed
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from rowrelay.tasks.state.lease import Lease, LeaseInfo, read_lease
from rowrelay.tasks.state.lease_flow_run import FlowRunLeft, read_sidecar, record
from tests.support.cli import IN_PROCESS, env_for, rowrelay, run_args, run_until_in_flight
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.leases import gone_pid, write_lease
from tests.support.prefect_records import flow_runs_on
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

HERE = socket.gethostname()


async def _flow_run(state: str) -> UUID:
    """A flow run made through the API in `state` (`RUNNING`, `COMPLETED`), as a run's own engine makes it."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Running

    @flow(name="rowrelay-killed-run")
    def killed() -> None: ...

    async with get_client() as client:
        made = await client.create_flow_run(killed, state=Running() if state == "RUNNING" else Completed())
    return made.id


async def _state_of(flow_run: UUID) -> tuple[str, str | None]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        found = await client.read_flow_run(flow_run)
    assert found.state is not None
    return found.state.type.value, found.state.message


def _taken_over_from(flow_run: UUID | str, tmp_path: Path) -> Lease:
    """A lease as a run holds it after taking the batch over from a killed run recorded as `flow_run`."""
    now = time.time()
    pid, reason = gone_pid(), "holder pid {} is gone"
    gone = LeaseInfo("main", HERE, pid, now - 60, now - 5, "f" * 16)
    mine = LeaseInfo("main", HERE, os.getpid(), now, now, "0" * 16)
    left = FlowRunLeft(str(flow_run), gone.token, HERE, pid, True, reason.format(pid))
    takeover = f"took over stale lease of {gone.describe()}: {reason.format(pid)}"
    return Lease(tmp_path / "main.json", mine, time.time, takeover, left)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("rowrelay")
    ]


async def test_a_run_taking_over_a_killed_runs_batch_marks_its_flow_run_crashed(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    source, args = write_tickets(tmp_path / "tickets.csv", 3), flow_args(tmp_path, emulator)
    assert (await run_batch(str(source), **args)).all_completed
    killed = await _flow_run("RUNNING")
    # The lease a run killed outright leaves: its pid gone, its heartbeat fresh, its flow run Running.
    now, pid = time.time(), gone_pid()
    dead = LeaseInfo("main", HERE, pid, now - 30, now - 1, "f" * 16)
    record(write_lease(Path(args["state"]), dead), str(killed), dead.token, HERE, pid)
    resumed = await run_batch(str(source), **args, return_state=True)
    assert (await resumed.aresult()).all_completed
    resumer = resumed.state_details.flow_run_id
    assert resumer is not None
    name = next(run.name for run in await flow_runs_on(Path(args["state"])) if run.id == resumer)
    assert await _state_of(killed) == (
        "CRASHED",
        f"its process (pid {pid} on {HERE}) is gone; run {name} (flow run {resumer}) resumed the batch",
    )
    assert await _state_of(resumer) == ("COMPLETED", (await _state_of(resumer))[1])


async def test_a_flow_run_already_ended_is_left_as_it_ended(
    prefect_api: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Prefect's zombie detection may have marked it, or its run stopped the right way and only its lease
    was left behind: its end is not rewritten."""
    ended = await _flow_run("COMPLETED")
    await mark_killed_holder_crashed(_taken_over_from(ended, tmp_path))
    assert (await _state_of(ended))[0] == "COMPLETED"
    assert _warnings(caplog) == []


async def test_a_flow_run_this_api_does_not_know_is_one_warning(
    prefect_api: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unknown = "6f1d9c1e-0000-4000-8000-000000000000"  # recorded on another server
    lease = _taken_over_from(unknown, tmp_path)
    await mark_killed_holder_crashed(lease)
    assert lease.left_running is not None
    pid = lease.left_running.pid
    assert _warnings(caplog) == [
        f"could not mark flow run {unknown} Crashed (the run it recorded, pid {pid} on "
        f"{HERE}, left the lease this run took over): the Prefect API this run records in does not know it "
        "(it was recorded elsewhere); it may still show Running in Prefect"
    ]


@pytest.fixture
def silent_api() -> Iterator[str]:
    """A Prefect API address that takes connections and never answers (a server hung, a dead proxy)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api"


@pytest.mark.parametrize("api", ["dark", "silent"])
async def test_a_prefect_api_that_cannot_be_reached_is_one_warning_and_the_run_goes_on(
    api: str, dark_address: str, silent_api: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"{dark_address}/api" if api == "dark" else silent_api
    flow_run = "6f1d9c1e-0000-4000-8000-000000000001"
    lease = _taken_over_from(flow_run, tmp_path)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        await mark_killed_holder_crashed(lease, within=0.5)  # returns: nothing raised
    said = _warnings(caplog)
    assert len(said) == 1, said
    assert lease.left_running is not None
    assert said[0].startswith(
        f"could not mark flow run {flow_run} Crashed (the run it recorded, pid {lease.left_running.pid} "
        f"on {HERE}, "
        "left the lease this run took over): "
    )
    assert said[0].endswith("; it may still show Running in Prefect")
    if api == "silent":
        assert "the Prefect API did not answer within 0.5 s" in said[0]


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("between", ["nothing", "cancel"])
async def test_a_run_killed_9_is_marked_crashed_by_the_run_that_resumes_it(
    between: str, prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    """`rowrelay cancel STATE` between (the README's advice after a kill) takes the killed run's stale
    lease and gives it up: the run after it still marks the killed run, whose record it left."""
    source, state = write_tickets(tmp_path / "tickets.csv", 4), tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:15"))) as emu:
        env = env_for(prefect_env, emu)
        run = run_until_in_flight(run_args(source, tmp_path), env, state, 4, tmp_path / "run.log")
        holder = read_lease(state / "leases" / "main.json")
        recorded = read_sidecar(state / "leases" / "main.json")
        os.kill(run.pid, signal.SIGKILL)  # a crash: its lease left behind, its rows in flight
        run.wait()
        assert holder is not None
        assert recorded is not None
        assert recorded["token"] == holder.token
        [killed] = await flow_runs_on(state)
        assert (str(killed.id), (await _state_of(killed.id))[0]) == (recorded["flow_run"], "RUNNING")
        if between == "cancel":
            cancel = rowrelay(["cancel", str(state)], env, command=IN_PROCESS)
            assert cancel.returncode == 0, cancel.stderr[-3000:]
            assert read_lease(state / "leases" / "main.json") is None
        # The resume is the session's warm runner's, as a user's next run is: the killed run's own
        # process (run_until_in_flight) is the one whose end matters here.
        resume = rowrelay(run_args(source, tmp_path), env)
        jobs, unanswered = jobs_of(emu.url)
    [resumer] = [run for run in await flow_runs_on(state) if run.id != killed.id]
    assert await _state_of(killed.id) == (
        "CRASHED",
        f"its process (pid {holder.pid} on {HERE}) is gone; run {resumer.name} (flow run {resumer.id}) "
        "resumed the batch",
    )
    assert read_sidecar(state / "leases" / "main.json") is None  # told once; the resumer's own gone with it
    frame = load(state)
    ended = "completed" if between == "nothing" else "cancelled"
    assert (frame["status"] == ended).all(), frame["status"].tolist()
    assert resume.returncode == (0 if ended == "completed" else 1), resume.stderr[-3000:]  # 1: rows not done
    assert (await _state_of(resumer.id))[0] == "COMPLETED"  # rows cancelled on request fail no flow run
    assert_every_job_is_paid_for(frame, jobs, unanswered)
