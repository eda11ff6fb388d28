"""`run_batch` and its `with_options` copies run recorded in the local Prefect server when called from
Python (the call itself is exercised in tests/flows/test_local_prefect.py)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from rowrelay.flows.batch import run_batch
from rowrelay.flows.tracked_flow import LocallyTracked
from rowrelay.tasks.emulator import RunningEmulator
from tests.support.cli import ROOT
from tests.support.runs import flow_args
from tests.support.tickets import write_tickets


def test_a_copy_with_other_options_is_tracked_as_the_flow_is() -> None:
    nightly = run_batch.with_options(name="nightly-triage", retries=1)
    assert isinstance(nightly, LocallyTracked)
    assert (nightly.name, nightly.retries, nightly.fn) == ("nightly-triage", 1, run_batch.fn)
    assert nightly.on_cancellation_hooks == run_batch.on_cancellation_hooks
    assert isinstance(run_batch, LocallyTracked)


async def test_a_call_with_an_unknown_keyword_is_a_one_line_type_error_before_any_run() -> None:
    """Prefect's own refusal (a `ParameterBindError`) printed the flow's whole signature around the name."""
    with pytest.raises(TypeError) as caught:
        await run_batch("in.csv", template="{body}", nonsense_opt=1)
    assert str(caught.value) == "run_batch(): got an unexpected keyword argument 'nonsense_opt'"


async def test_a_flow_run_leaves_no_connection_for_the_garbage_collector(
    prefect_api: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Prefect's engine asked the server for its default result storage on a sync client of its own,
    never closed: a socket (and a CA bundle loaded, 16 ms) per flow run, left to the collector, which a
    notebook running batch after batch piles up. The flow run now has one sync client from its start."""
    source = write_tickets(tmp_path / "tickets.csv", 3)
    gc.collect()  # what earlier tests of this worker left is not this run's
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        result = await run_batch(str(source), **flow_args(tmp_path, emulator))
        gc.collect()
    assert result.all_completed
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []


def test_an_error_that_stops_the_run_reaches_the_caller_without_prefects_tracebacks(
    prefect_env: dict[str, str], emulator: RunningEmulator, tmp_path: Path
) -> None:
    """A user's script (or notebook cell) calling `run_batch` with a template naming a column the input
    lacks got the error's one line, and above it Prefect's console printed the task's and the flow run's
    failures with a traceback each, about a hundred lines. The caller still gets the error; Prefect's
    records of it stay in the flow run's logs on its server."""
    source = write_tickets(tmp_path / "tickets.csv", 3)
    script = (
        "import asyncio, json, sys\n"
        "from rowrelay import run_batch\n"
        "try:\n"
        "    asyncio.run(run_batch(sys.argv[1], **json.loads(sys.argv[2])))\n"
        "except Exception as exc:\n"
        "    print(f'raised {type(exc).__name__}: {exc}', file=sys.stderr)\n"
    )
    args = {**flow_args(tmp_path, emulator), "template": "{nope}"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(source), json.dumps(args)],
        cwd=ROOT, env=prefect_env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    said = done.stderr
    # Not necessarily the last line: at exit Prefect's event worker may say it is still sending (a
    # script's console is Prefect's own; the CLI keeps that notice off its last line).
    raised = [line for line in said.splitlines() if line.startswith("raised ")]
    assert len(raised) == 1, said[-3000:]
    assert raised[0].startswith("raised UsageError: template names column(s) not in the input: nope")
    assert "Traceback" not in said, said[-3000:]
    assert said.count("not in the input: nope") == 1, said[-3000:]  # the error raised, not Prefect's records
