"""The flow a deployment serves (flows/deploy.py): the batch flow, except that a run finding its batch held
by another live run ends `Cancelled`, in one log line, instead of `Failed` with a traceback.

Every run of a deployment works on one state directory. `limit=1` makes a run due while another goes wait
its turn, but only within one serving process: the same deployment served twice (two `rowrelay deploy
--name N`, an old process left running beside its replacement), each process started its run at once,
and the one that found the batch held failed on its lease. A `Failed` run is what the README's
automation alerts on, so a healthy night was reported as a bad one. Such a run ends `Cancelled` now, at
once, having sent nothing: the live run is doing the batch's work, and the next scheduled run resumes
whatever it leaves. Waiting for it instead would, at best, start a run that finds the batch finished and
sends nothing, after holding a `Running` flow run (and, with `limit=1`, that process's next runs) for as
long as the other takes, hours on a big night.

A returned `Cancelled` state runs no `on_cancellation` hook (Prefect runs those for a run asked to cancel
only), so nothing reaches for the in-flight responses the live run holds.

A run refused for what is the user's to fix (its input edited or gone, a damaged state, a refused key:
the errors `rowrelay run` reports in one line, `RUN_STOPPERS`) ends `Failed` with that line as its state
message, and the console shows it once, in Prefect's closing line: raised out of the flow, Prefect's task
and flow engines each printed it with a traceback, 78 lines for one refused night. Any other error (a
bug) is still raised, traceback and all. The advice is the deployment's: it takes no per-run options, so
an edited row's way on is to deploy again (`edited_inputs.changed_rows_problem`).

Each run is named as Prefect's engine starts it, before its first line, after its batch and the time it
was scheduled for (`run_labels.run_name`): Prefect's console then names it as the UI does, and no two of
a deployment's runs share a name.

Its own module, and a flow of its own named as the batch flow: a served run is started in a process of
its own, which loads the flow from this module and function (the deployment's entrypoint).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.states import Cancelled, Failed

from rowrelay.flows.batch import run_batch
from rowrelay.flows.cancel_hook import cancel_on_the_server
from rowrelay.flows.cli_errors import state_problem, told_once
from rowrelay.flows.run_labels import run_name
from rowrelay.flows.tracked_flow import flow
from rowrelay.tasks.errors import EditedInputError, LeaseHeldError, StateError
from rowrelay.tasks.records import one_line
from rowrelay.tasks.run.edited_inputs import changed_rows_problem
from rowrelay.tasks.steps import RUN_STOPPERS

HELD_ELSEWHERE = (
    "this scheduled run ends Cancelled, having sent nothing: its batch is held by another live run, which "
    "does the batch's work ({held}). If that run is this deployment's too, the deployment is served by "
    "two processes (two `rowrelay deploy` of one name), each starting its runs while the other's goes: "
    "serve it once"
)


def _signed_as_run_batch(fn: Any) -> Any:
    """`fn` with the batch flow's parameters (its deployment's parameter schema), under its own name, module
    and docstring: Prefect finds a served flow again by its function's module and qualified name."""
    own = (fn.__module__, fn.__name__, fn.__qualname__)
    signed = functools.wraps(run_batch.fn)(fn)
    signed.__module__, signed.__name__, signed.__qualname__ = own
    return signed


def _named_for_its_schedule() -> str:
    """The run's name (`run_name`) as Prefect's engine starts it: of the batch at its state directory,
    whose name a new batch takes as its id (one whose recorded id differs is renamed once its table
    opens, `label_flow_run`)."""
    context = FlowRunContext.get()
    assert context is not None  # Prefect asks inside the run...
    assert context.flow_run is not None  # ...of a flow run
    state = (context.parameters or {}).get("state")
    return run_name(Path(str(state)).name, context.flow_run) if state else context.flow_run.name


@flow(
    name="rowrelay-batch",
    flow_run_name=_named_for_its_schedule,
    log_prints=False,
    on_cancellation=[cancel_on_the_server],
    validate_parameters=False,
)
@_signed_as_run_batch
async def scheduled_batch(*args: Any, **kwargs: Any) -> Any:
    try:
        with told_once(*RUN_STOPPERS):  # the task engine's records of them, with their tracebacks
            return await run_batch.fn(*args, **kwargs)
    except LeaseHeldError as exc:
        message = HELD_ELSEWHERE.format(held=exc.held)
        get_run_logger().warning(message)
        held: State[Any] = Cancelled(message=message)
        return held
    except RUN_STOPPERS as exc:
        # Returned, not raised: the flow engine logs a raised error with its traceback, then its state.
        refused: State[Any] = Failed(message=one_line(refusal_said(exc, kwargs.get("state"))))
        return refused


def refusal_said(exc: BaseException, state: object) -> str:
    """What a scheduled run refused for `exc` (one of `RUN_STOPPERS`) says, with the way on as a
    deployment has it; `state`: the batch's directory, as the deployment passes it."""
    if isinstance(exc, EditedInputError):
        return changed_rows_problem(exc.rows, deployed=True)
    if isinstance(exc, StateError):
        return state_problem(exc, Path(str(state)))
    return str(exc)
