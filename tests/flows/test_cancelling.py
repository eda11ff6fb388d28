"""Cancelling a batch from its state directory while its runner lets go of it (the flow's cancellation
hook, run by Prefect as the flow's process stops)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from rowrelay.flows.cancelling import cancel_batch_async
from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.errors import LeaseHeldError, UsageError
from rowrelay.tasks.llm import RowRequest, Snapshot
from rowrelay.tasks.run import Cancelled
from rowrelay.tasks.run.response_cost import response_cost
from rowrelay.tasks.state import RunRecord, StateTable, load, write_run_record
from tests.support.cli import rowrelay
from tests.support.clock import ManualClock
from tests.support.inspection import eventually, reading
from tests.support.runs import left_in_flight
from tests.support.state import FakeClock
from tests.support.tickets import TEMPLATE, write_tickets


async def _batch_in_flight(state: Path, emu: RunningEmulator, rows: int) -> StateTable:
    """A batch whose runner is still open (the returned table holds its lease), every row's response
    in flight on the emulator."""
    prepared = prepare(
        read_input(write_tickets(state.parent / "tickets.csv", rows)),
        InputSpec(TEMPLATE, None, "ticket_id", None),
    )
    table = StateTable.open(state)
    table.add_pending(prepared.planned())
    keys = map(str, prepared.planned().column("row_key").to_pylist())
    requests = [
        RowRequest(key, prepared.prompt(key), None, "gpt-4.1-mini", {"rowrelay_row": key}) for key in keys
    ]
    await left_in_flight(table, emu.url, requests)
    table.flush()
    record = RunRecord(output=str(state.parent / "out.csv"), backend="emulator", base_url=emu.url,
                       model="gpt-4.1-mini", mode="poll")  # fmt: skip
    write_run_record(state, record)
    return table


class _Looks:
    """The cancel's sleep between looks at the lease, on a fake clock; the runner closes its table (lets
    go of the lease) at look `lets_go_at`, or never."""

    def __init__(self, clock: FakeClock, runner: StateTable, *, lets_go_at: int | None) -> None:
        self.clock, self.runner, self.lets_go_at = clock, runner, lets_go_at
        self.looks: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.looks.append(seconds)
        self.clock.advance(seconds)
        if len(self.looks) == self.lets_go_at:
            self.runner.close()


async def test_a_cancel_waits_for_a_stopping_runner_to_let_go_of_the_batch(tmp_path: Path) -> None:
    state, clock = tmp_path / "state", FakeClock()
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        runner = await _batch_in_flight(state, emu, rows=4)
        sleep = _Looks(clock, runner, lets_go_at=3)
        assert await cancel_batch_async(state, lease_wait=30.0, sleep=sleep, clock=clock) == Cancelled(4)
        assert len(sleep.looks) == 3
        assert {r["status"] for r in emu.emulator.listing()} == {"cancelled"}
    assert set(load(state)["status"]) == {"cancelled"}


async def test_a_cancel_gives_up_on_a_runner_that_keeps_the_batch(tmp_path: Path) -> None:
    state, clock = tmp_path / "state", FakeClock()
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        runner = await _batch_in_flight(state, emu, rows=2)
        sleep = _Looks(clock, runner, lets_go_at=None)
        looks = sleep.looks
        with runner:
            with pytest.raises(LeaseHeldError, match="held by a run in this process"):
                await cancel_batch_async(state, sleep=sleep, clock=clock)  # no wait asked: at once
            assert looks == []
            with pytest.raises(LeaseHeldError, match="held by a run in this process"):
                await cancel_batch_async(state, lease_wait=5.0, sleep=sleep, clock=clock)
            assert 5.0 <= sum(looks) < 5.0 + looks[0] * 2
        assert {r["status"] for r in emu.emulator.listing()} <= {"queued", "in_progress"}  # none cancelled


async def test_the_cancel_command_on_a_batch_a_run_holds_says_to_stop_that_run(tmp_path: Path) -> None:
    """The run holding the batch cancels its own responses when stopped: the refusal says so, and the
    retry command's says to wait for it, each in one line (exit 2), and neither touches the batch."""
    state = tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        with await _batch_in_flight(state, emu, rows=2) as runner:
            env = {**os.environ, "ROWRELAY_HOME": str(tmp_path / "home")}
            cancel = await asyncio.to_thread(rowrelay, ["cancel", str(state)], env)
            retry = await asyncio.to_thread(rowrelay, ["retry", str(state)], env)
            holder = f"is held by a live runner (host={runner.lease.info.host} pid={os.getpid()} since="
        assert {r["status"] for r in emu.emulator.listing()} <= {"queued", "in_progress"}  # none cancelled
    for refused in (cancel, retry):
        assert refused.returncode == 2, refused.stderr[-3000:]
        [line] = refused.stderr.splitlines()
        assert line.startswith(f"error: {state}: writer 'main' "), line
        assert holder in line, line
    assert cancel.stderr.rstrip().endswith(
        "; stop that run instead (Ctrl-C where it runs, or `kill` its pid): a run that stops cancels its "
        "in-flight responses itself"
    )
    assert retry.stderr.rstrip().endswith("; wait for that run to end (or stop it), then try again")


async def test_the_cancel_command_says_which_responses_it_could_not_reach_and_exits_1(tmp_path: Path) -> None:
    """The server gone, `rowrelay cancel` said "cancelled 0 in-flight responses" (exit 0) after a warning
    per row: the responses may run on, and be paid for. Now one line says how many and the last error,
    and exit 1; the rows keep their response ids for a later cancel or run."""
    state = tmp_path / "state"
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        (await _batch_in_flight(state, emu, rows=2)).close()  # the runner let go of the batch
    env = {**os.environ, "ROWRELAY_HOME": str(tmp_path / "home")}  # and the server is gone with the emulator
    cancel = await asyncio.to_thread(rowrelay, ["cancel", str(state)], env)
    assert cancel.returncode == 1, cancel.stderr[-3000:]
    [line] = cancel.stderr.splitlines()
    assert line.startswith(
        "error: 0 in-flight responses were cancelled, but 2 rows could not be cancelled (last: T-"
    ), line
    assert "connection problem" in line, line
    assert line.endswith(
        f"their responses may still run, and be paid for; run `rowrelay cancel {state}` again once the "
        "server answers"
    ), line
    frame = load(state)
    assert set(frame["status"]) <= {"queued", "in_progress"}
    assert frame["response_id"].notna().all()


@pytest.mark.parametrize(
    ("faults", "status", "error_type"),
    [
        ({}, "completed", None),
        ({"refusal_rate": 1.0}, "failed", "refusal"),
        ({"fail_rate": 1.0}, "failed", "response_failed"),
    ],
)
async def test_responses_a_cancel_finds_ended_are_recorded_as_a_poll_would_record_them(
    tmp_path: Path, faults: dict[str, float], status: str, error_type: str | None
) -> None:
    """A response that ended before its cancel reached it answers the cancel with how it ended. It was
    recorded as its status and text alone: a completed row with no tokens or cost, a failed one with no
    error, a refusal passed as an answer. It is recorded as a poll would: priced, its answer checked."""
    state, clock = tmp_path / "state", ManualClock()
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:30"), **faults)  # type: ignore[arg-type]
    with running_emulator(config, clock=clock) as emu:
        (await _batch_in_flight(state, emu, rows=3)).close()
        clock.advance(31)
        ended = reading(lambda: {r["status"] for r in emu.emulator.listing()})
        await eventually(ended, lambda statuses: statuses <= {"completed", "failed"})
        assert await cancel_batch_async(state) == Cancelled(ended=3)
    frame = load(state)
    assert set(frame["status"]) == {status}
    errors = frame["error_type"]
    assert errors.isna().all() if error_type is None else set(errors) == {error_type}
    if faults.get("fail_rate"):
        assert frame["error_message"].notna().all()
    else:  # an answer, paid for: its tokens and cost on the row
        assert frame["input_tokens"].gt(0).all()
        assert frame["output_tokens"].gt(0).all()
        assert frame["cost_usd"].gt(0).all()


async def test_a_crash_while_pricing_an_answer_a_cancel_found_keeps_the_answer_on_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in pricing (monkeypatched: no server's answer makes it raise) met by the first answer a
    cancel found ended raised out of `rowrelay cancel`: that row kept its token unrecorded and the rows
    after it were never settled. Now the row is recorded ended, without a cost, like every other."""
    priced = response_cost  # the pricing rule, as `Spend` calls it
    calls: list[str | None] = []

    def crashes_once(snapshot: Snapshot, *prices: Any) -> float | None:
        calls.append(snapshot.response_id)
        if len(calls) == 1:
            raise TypeError("unsupported operand type(s) for -: 'str' and 'int'")
        return priced(snapshot, *prices)

    monkeypatch.setattr("rowrelay.tasks.run.spend.response_cost", crashes_once)
    state, clock = tmp_path / "state", ManualClock()
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:30")), clock=clock) as emu:
        (await _batch_in_flight(state, emu, rows=3)).close()
        clock.advance(31)
        ended = reading(lambda: {r["status"] for r in emu.emulator.listing()})
        await eventually(ended, lambda statuses: statuses == {"completed"})
        assert await cancel_batch_async(state) == Cancelled(ended=3)
    frame = load(state).set_index("response_id")
    assert set(frame["status"]) == {"completed"}, frame["status"]
    assert frame["output_text"].notna().all()
    assert frame["input_tokens"].gt(0).all(), "each answer's usage is kept, the crashed one's too"
    unpriced = frame.index[frame["cost_usd"].isna()].tolist()
    assert unpriced == [calls[0]], "only the answer whose pricing crashed has no cost"


async def test_a_bad_price_file_is_named_as_the_variable_that_gave_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rowrelay cancel` has no --prices: a price file reaches it from ROWRELAY_PRICES alone, and a bad one
    is named so (it said `--prices`, an option the user never passed), before the batch is touched."""
    state, prices = tmp_path / "state", tmp_path / "prices.json"
    prices.write_text("{not json")
    monkeypatch.setenv("ROWRELAY_PRICES", str(prices))
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        (await _batch_in_flight(state, emu, rows=2)).close()
        with pytest.raises(UsageError, match=f"^ROWRELAY_PRICES {prices}: not JSON "):
            await cancel_batch_async(state)
        assert {r["status"] for r in emu.emulator.listing()} <= {"queued", "in_progress"}  # none cancelled
