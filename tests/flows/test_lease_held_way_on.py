"""A batch a live run holds is refused with the way on in the error's own words, from Python as from the
command line: `run_batch` raised LeaseHeldError naming the holder only, where `rowrelay run` added
`; wait for that run to end (or stop it), then run the same command to resume` (README: an error that
stops a run reaches a Python caller with the CLI's one line). Commands whose way on differs say theirs
instead, never both. A batch the caller's own process holds (a notebook's run_batch still going in
another cell, thread or task) says so, with the way on that fits it (`lease.IN_THIS_PROCESS`): it named
the kernel's own pid as "a live runner" to wait for "(or stop it)"."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from rowrelay.flows.cli_errors import HELD_BY_A_RUN, state_problem
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.errors import LeaseHeldError
from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.lease import IN_THIS_PROCESS
from tests.support.cli import rowrelay, run_args
from tests.support.leases import held_elsewhere
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets

WHEN_IT_ENDS = "wait for that run to end (or stop it), then run the same command to resume"
WAY_ON = f"; {WHEN_IT_ENDS}"


def _held(state: Path) -> LeaseHeldError:
    with held_elsewhere(state), pytest.raises(LeaseHeldError) as refused:
        StateTable.open(state)
    return refused.value


def test_the_refusal_carries_the_runs_way_on_and_other_commands_say_theirs_alone(tmp_path: Path) -> None:
    refused = _held(tmp_path / "state")
    assert str(refused).endswith(WAY_ON)
    said = state_problem(refused, tmp_path / "state")  # `retry`, `export`, ...: their own way on
    assert said.endswith(f"is held by a live runner ({refused.held.split(' (', 1)[1]}; {HELD_BY_A_RUN}")
    assert WHEN_IT_ENDS not in said
    back = pickle.loads(pickle.dumps(refused))  # a shard's error crosses to the coordinator whole
    assert (str(back), back.held) == (str(refused), refused.held)


def test_a_batch_this_process_holds_is_said_to_be_its_own_run(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with StateTable.open(state), pytest.raises(LeaseHeldError) as refused:
        StateTable.open(state)
    said = str(refused.value)
    assert said.startswith(f"{state}: writer 'main' is held by a run in this process (host=")
    assert said.endswith(f"; {IN_THIS_PROCESS}")
    assert "live runner" not in said
    assert "(or stop it)" not in said
    with held_elsewhere(state), pytest.raises(LeaseHeldError) as elsewhere:
        StateTable.open(state)  # the same batch held by another process: the words of another run
    assert "is held by a live runner" in str(elsewhere.value)
    assert IN_THIS_PROCESS not in str(elsewhere.value)


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_run_batch_from_python_on_a_held_batch_says_the_way_on(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 3)
    # A served emulator of the test's own: with no backend given, the run started the embedded one in the
    # user's real home (~/.rowrelay) and left it running after the suite.
    with running_emulator(EmulatorConfig()) as emu:
        with held_elsewhere(tmp_path / "state"), pytest.raises(LeaseHeldError) as refused:
            await run_batch(str(source), **flow_args(tmp_path, emu))
        assert str(refused.value).endswith(WAY_ON)
        assert "is held by a live runner" in str(refused.value)
        # Held by this process (a run_batch another cell started, still going): said as its own.
        with StateTable.open(tmp_path / "state"), pytest.raises(LeaseHeldError) as own:
            await run_batch(str(source), **flow_args(tmp_path, emu))
        assert str(own.value).endswith(f"; {IN_THIS_PROCESS}")
        assert "is held by a run in this process" in str(own.value)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_command_line_says_the_way_on_once(prefect_env: dict[str, str], tmp_path: Path) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    with StateTable.open(tmp_path / "state"):
        refused = rowrelay(run_args(source, tmp_path), {**prefect_env, "ROWRELAY_BACKEND": "emulator"})
    assert refused.returncode == 2, refused.stderr
    line = refused.stderr.strip()
    assert line.startswith(f"error: {tmp_path / 'state'}: writer 'main' is held by a live runner ")
    assert line.endswith(WAY_ON)
    assert line.count(WHEN_IT_ENDS) == 1
