"""The closing line of a `rowrelay run` stopped by Ctrl-C or SIGTERM: what the run did to its work on the
server, from what its runners said as they stopped, or, where none did, from its state table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from rowrelay.tasks.errors import StateError, UsageError
from rowrelay.tasks.shell_words import shell_arg

if TYPE_CHECKING:
    from rowrelay.flows.request import BatchRequest
    from rowrelay.tasks.dataset import PreparedInput
    from rowrelay.tasks.run.stops import Cancelled

__all__ = ["stopped", "stopped_as_found"]


def stopped(
    how: str, request: BatchRequest, prepared: PreparedInput, stops: list[Cancelled], since: float
) -> Text:
    """`interrupted: 10 in-flight responses were cancelled; ...`: what a stopped run did to its work on the
    server, from what its runners said as they stopped (`run.cancel.stops_seen`), and how to go on. Text,
    not markup: a server's message may hold brackets. `since`: when the run began (time.time())."""
    from rowrelay.tasks.run.stops import said_on_stop

    resume = "run the same command to resume"
    # A Dask run's stop: one word for all its shards, from what the workers answered (`cluster_stop`)
    if not stops:  # no runner was stopped: before the rows' turn (Prefect's start, the plan), or after it
        state_dir = request.state_dir(prepared)
        said = stopped_as_found(state_dir, request.output_path(state_dir), since)
    elif any(stop.unreached or stop.left or stop.not_stopped for stop in stops):
        cancel = f"rowrelay cancel {shell_arg(request.state_dir(prepared))}"
        tried = any(stop.unreached or stop.left for stop in stops)  # else only shards the stop never reached
        said = f"{said_on_stop(stops)}; `{cancel}` {'tries again' if tried else 'cancels them'}, or {resume}"
    else:
        again = " (it sends them again)" if any(stop.cancelled for stop in stops) else ""
        said = f"{said_on_stop(stops)}; {resume}{again}"
    return Text.assemble((f"{how}:", "yellow"), " ", said)


def stopped_as_found(state_dir: Path, output: Path, since: float) -> str:
    """What a run stopped with no runner's word on its stop leaves, from its state table and output: said
    as found (rows in flight among it, when a second Ctrl-C cut the cancel short before a runner spoke).
    It was "stopped before sending anything" whatever happened, also from a run whose 60 rows had all
    completed and whose output was never written (it waited on a Prefect server that did not answer)."""
    from rowrelay.tasks.records import IN_FLIGHT
    from rowrelay.tasks.state import load

    resume = "run the same command to resume"
    try:
        frame = load(state_dir)
    except (UsageError, StateError, OSError):  # no table yet (stopped before the plan), or unreadable
        return f"stopped before sending anything; {resume}"
    if frame.empty or (frame["status"].eq("pending") & frame["attempts"].eq(0)).all():
        return f"stopped before sending anything; {resume}"
    counts = frame["status"].value_counts()
    rows = ", ".join(f"{int(count):,} {status}" for status, count in counts.items())
    if in_flight := int(frame["status"].isin(IN_FLIGHT).sum()):
        # The run's cancel cut short (Ctrl-C pressed again as it cancelled) before its runner said what
        # it did, or rows an earlier run left: this said "stopped with no row in flight (56 in_progress)".
        return (
            f"stopped with {in_flight:,} rows in flight ({rows}), not cancelled: their responses may still "
            f"run, and be paid for; `rowrelay cancel {shell_arg(state_dir)}` cancels those holding a "
            "response id, or "
            f"{resume}"
        )
    try:
        written = output.stat().st_mtime >= since
    except OSError:
        written = False
    if written:
        return f"stopped with no row in flight ({rows}), after writing {output}; {resume}"
    return (
        f"stopped with no row in flight ({rows}) before writing the output; {resume}: it writes {output} "
        "and sends only the rows not completed"
    )
