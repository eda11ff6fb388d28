"""What a run stopped by an error after rows were sent leaves its user: the output, and where it is.

An outage on one of two endpoints, an answer that is not the API's, a refused key, crashes alike, a
lost Dask budget or a Dask cluster without workers stop the whole run (`STOPS_AFTER_SENDING`), often
after rows completed and were paid for on the way. Such a run wrote no output and its command said only
the `error:` line: a trial's 14 completed rows, paid for on the endpoint that answered, were nowhere but
in the state table, and nothing said so. The run now writes its output as a run's end writes it (every
row of the input, those not completed as they stand: pending, failed, or holding the response id the
next run waits on), before its error goes on up, and says where it is and what it holds on the error
itself
(`output: OUT (written as the run stopped: 14 completed, 6 pending)   state: STATE`): the command line
prints it under its `error:` line, a traceback from Python shows it as a note (PEP 678), and the flow
run's log has it (at INFO: on the console it would come before the error line).

A batch with no completed row gets no output (there is nothing in it to read: a run refused at its
first create should not leave a file of pending rows to be taken for a result), and its error is said
alone, as before, its own words saying how to go on. Ctrl-C and SIGTERM still write none: a user
stopping a run wants it to end now, not after an export of a million rows, and the same command resumes
the batch and writes the output at its end (`rowrelay export STATE` writes it without sending anything).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rowrelay.tasks.errors import (
    BankUnreachableError,
    CrashedAlikeError,
    OutageError,
    OutputWriteError,
    StateError,
    WorkersGoneError,
)
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.shell_words import shell_arg

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["STOPS_AFTER_SENDING", "left_at_stop", "write_at_stop"]

STOPS_AFTER_SENDING: tuple[type[Exception], ...] = (
    OutageError,
    BackendRefusedError,  # NotTheApiError too, its subclass
    CrashedAlikeError,
    BankUnreachableError,
    WorkersGoneError,
)
"""The errors that stop a run mid-way, rows perhaps completed and paid for, whose output the run writes
before the error goes on (a usage or state error stops it before anything is sent, or cannot write)."""

_SAID = "_rowrelay_left_at_stop"
"""The attribute holding the line on the stopped run's error: an exception's `__dict__` goes with its
pickle and its copies, as Prefect may hand the flow's error on."""

log = logging.getLogger("rowrelay.flow")


def write_at_stop(
    stop: BaseException,
    read: Callable[[], pa.Table],
    write: Callable[[pa.Table], object],
    output: Path,
    state: Path,
) -> None:
    """Write the output of a run `stop` ended (`read`: the input's rows as they stand; `write`: as the
    run's end writes them) when they hold a completed row, and say so on `stop` (`left_at_stop`) and in
    the log. A read or write that fails is said the same way, with the export that writes the output
    later: the stop stays the error the run ends in. With no row completed, nothing is written and
    nothing said beyond the error."""
    try:
        latest = read()
    except (StateError, OSError) as exc:  # a shard on a worker still holding the rows, say
        said = f"the output was not written ({exc}); `rowrelay export {shell_arg(state)}` writes it"
    else:
        counts = _counts(latest)
        if not counts.get("completed"):  # the error's line alone, as before: it says how to go on
            log.info("no output written: no row of the batch has completed")
            return
        try:
            write(latest)
        except OutputWriteError as exc:  # a full disk: its own words name the export that writes it
            said = str(exc)
        else:
            rows = ", ".join(f"{n:,} {status}" for status, n in counts.items())
            said = f"output: {output} (written as the run stopped: {rows})   state: {state}"
    setattr(stop, _SAID, said)
    stop.add_note(said)
    # INFO: the console (WARNING and up) has it from the command line, under the error it follows
    log.info("%s", said)


def left_at_stop(stop: BaseException) -> str | None:
    """The line `write_at_stop` said of what `stop` left, or None when it said none."""
    said = getattr(stop, _SAID, None)
    return said if isinstance(said, str) else None


def _counts(latest: pa.Table) -> dict[str, int]:
    """Rows by status, completed first, then most first: how the line says what the output holds."""
    counted = latest.group_by("status").aggregate([([], "count_all")]).to_pylist()
    pairs = [(str(item["status"]), int(item["count_all"])) for item in counted]
    return dict(sorted(pairs, key=lambda pair: (pair[0] != "completed", -pair[1], pair[0])))
