"""rowrelay's errors: two branches, translated once at the boundary with `raise ... from exc`.

RowrelayError
├── TransientError          retry the same step later; no attempt is spent
│   └── RateLimitedError    the server asked us to slow down (429), maybe with a retry-after
└── TerminalError           do not retry this step
    ├── RunStoppingError    stops the whole run, not a row: its starter says it in one line
    │   ├── OutageError     the server answered nothing for `give_up_after` seconds: the run stops
    │   ├── BankUnreachableError    a shard lost the run's shared budget (its Dask scheduler): it stops
    │   ├── WorkersGoneError    the run's Dask cluster had no running worker for a while: the run stops
    │   │   └── SchedulerGoneError   its Dask scheduler cannot be reached (killed, machine gone, cut off)
    │   ├── CrashedAlikeError   the run's first rows all crashed alike (a bug): it stops sending
    │   ├── OutputWriteError    the output file could not be written; every result is in the state table
    │   ├── (BackendRefusedError, tasks/llm: the server refused us, not the row)
    │   ├── UsageError      bad input, option or file: refused before any request is spent
    │   │   ├── MissingExtraError    a feature needs an optional extra that is not installed
    │   │   └── EditedInputError     rows sent already whose input changed (`rows` names them)
    │   └── StateError      the state table is damaged, locked or from an unknown schema
    │       ├── LeaseHeldError  another live runner holds the batch
    │       ├── StateAccessError     a file of the table this user may not read (it may be whole)
    │       ├── StateWriteError      a file of the table could not be written: the command stops
    │       │   └── StateWriteDeniedError   this user may not write the batch's folder (taking its lease)
    │       ├── DamagedFileError     a file of the state table is torn or unreadable (`path` names it)
    │       │   ├── CorruptSegmentError  a segment or snapshot is torn or not a state file
    │       │   └── MissingVersionsError versions of the table no file holds (a file deleted or lost)
    │       └── IllegalTransition    a row was asked to move between statuses the table forbids
    ├── FailWhenFailedError more rows than `fail_when_failed` allows did not complete (`result` holds them)
    └── ResponseGoneError   the server no longer holds the response (404 on a token)

Two branches are defined beside the rest: BackendRefusedError in `tasks/llm/calls.py`, and the errors of a
state folder the file system refuses (StateAccessError, StateWriteError, StateWriteDeniedError), with each
command's words for them, in `tasks/state_folder_errors.py`.
"""

from __future__ import annotations

from typing import Any

from rowrelay.tasks.shell_words import shell_arg


class RowrelayError(Exception):
    """Base of every error rowrelay raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as what it is, not by calling `__init__` again with its message alone, which fails for
        # the errors that take other arguments (a path and a reason): a shard's error on a Dask worker
        # reaches the coordinator pickled, and failed there with a recursion of serialization errors.
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(kind: type[RowrelayError], args: tuple[Any, ...], fields: dict[str, Any]) -> RowrelayError:
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(fields)
    return error


class TransientError(RowrelayError):
    """Worth retrying: connection trouble, timeouts, 5xx, dropped streams, 429s."""


class RateLimitedError(TransientError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TerminalError(RowrelayError):
    """Not worth retrying as it stands."""


class RunStoppingError(TerminalError):
    """Stops the whole run, not one row: raised out of a shard (or before one), and said in one line by
    whoever started the run (the command line's `error: ...`, a deployment's Failed state, the error
    raised to a caller from Python). Prefect's console records of it, a traceback for the task run and
    another for the flow run, are left off the console (`tasks/steps.RUN_STOPPERS`): being one is
    declared here, by the base class, so an error that stops a run cannot be left out of that list (the
    output's `OutputWriteError` was, and printed ~150 lines of tracebacks above its one line)."""


class OutageError(RunStoppingError):
    """The server answered no request for the run's `give_up_after` seconds while rows tried (refused
    connections, timeouts, 5xx): the run stops, its rows keep their response ids, and the same command
    resumes them. Without it a run against a server that never comes back (a mistyped address, an endpoint
    taken down) would wait for ever, holding its batch's lease against the next scheduled run."""

    def __init__(
        self, seconds: float, last_error: str | None, endpoint: str | None = None, *, streams_cut: int = 0
    ) -> None:
        said = "" if last_error is None else f" (last: {last_error})"
        # With several endpoints, whose server went quiet: the address in the last error may be a proxy's.
        whose = "" if endpoint is None else f"endpoint {endpoint!r}: "
        # Streamed creates the server took (200) whose streams were cut before the id came: not silence.
        quiet = (
            f"for {seconds_said(seconds)} no request was answered but {streams_cut} streamed "
            f"create{'' if streams_cut == 1 else 's'}, which the server took (200) and whose "
            f"stream{'' if streams_cut == 1 else 's'} a proxy or gateway on the way cut before the "
            "response's id came (ROWRELAY_POLL_STREAMS=0 sends plain creates)"
            if streams_cut
            else f"the server has answered no request for {seconds_said(seconds)}"
        )
        super().__init__(
            f"{whose}{quiet}{said}, so the run stopped; rows holding a response id keep it, and the same "
            "command resumes once the server answers (--give-up-after sets how long a run waits)"
        )
        self.seconds = seconds


class BankUnreachableError(RunStoppingError):
    """A shard on a Dask worker cannot reach the run's budget on the scheduler (the cluster is closing,
    or its scheduler is gone): no row may be sent without it, so the shard stops as for an outage, its
    rows keep their state and response ids, and the same command resumes them. Not a row's failure: a
    row waiting on a grant when the coordinator closed the cluster was recorded failed (internal)."""


class WorkersGoneError(RunStoppingError):
    """The run's Dask cluster has had no running worker for `dask_no_workers_after` seconds (every worker
    gone, none started again): Dask would keep the shards waiting for one for ever, the batch's lease
    held. The run stops; its rows are as a killed run leaves them, and the same command resumes them."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the Dask cluster has had no running worker for {seconds_said(seconds)}, so the run stopped; "
            "nothing is lost: rows keep their state and response ids, a create that may have started a job "
            "is counted on its row, and the same command resumes them on a cluster with workers "
            "(ROWRELAY_DASK_NO_WORKERS_AFTER sets how long a run waits for one)"
        )
        self.seconds = seconds


class SchedulerGoneError(WorkersGoneError):
    """The run's Dask scheduler cannot be reached (killed, its machine gone, the network cut): Dask's
    client gave up reconnecting to it, or it has not answered for `dask_no_workers_after` seconds, or the
    connection to it was lost and Dask dropped the shards' tasks with it. A WorkersGoneError (no worker
    the run can reach), stopped and said as one; the same command resumes once a cluster is there."""

    def __init__(self, address: str, why: str, seconds: float) -> None:
        from rowrelay.tasks.setting_problems import option_of  # pydantic: not for every import of errors

        RunStoppingError.__init__(
            self,
            f"{why}, so the run stopped; nothing is lost: rows keep their state and response ids, a create "
            "that may have started a job is counted on its row, and the same command resumes them once a "
            f"cluster is there (a scheduler at {address} again, or another given by {option_of('dask')})",
        )
        self.address, self.why, self.seconds = address, why, seconds


class CrashedAlikeError(RunStoppingError):
    """The run's first rows all crashed alike, of one exception raised at one place, and no row ended
    otherwise (`tasks/run/crashed_alike.py`): a bug that meets every row, so the run stops sending rather
    than pay for a create per row only to crash on each. Every crashed row is recorded as any crash is."""


class FailWhenFailedError(TerminalError):
    """More rows than `fail_when_failed` allows did not complete: the flow run ended `Failed`. Raised to a
    caller of `run_batch` from Python, its message the reason (`11 of 200 rows did not complete (9 failed,
    2 expired): past --fail-when-failed 5`) and `result` the run's `BatchResult`, whole: the output is
    written and the counts are there to read. (The CLI prints the counts and exits 1 instead.)"""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result  # a `BatchResult`, typed `Any`: the flows that make it are above this module


def seconds_said(seconds: float) -> str:
    """`90 s`, `2 min`, `60 min`: how the outage's bound is said, in its error and in the run's warning."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class UsageError(RunStoppingError):
    """Bad input, option or file; nothing has been spent."""


class EditedInputError(UsageError):
    """Rows a create was sent for whose input changed under their key (`tasks/run/edited_inputs.py`).
    `rows`, their keys, let a deployment's run word the way on again: it has no per-run options, so the
    command's advice (`--resend-edited`, a new `--state`) means deploying again there."""

    def __init__(self, message: str, rows: list[str]) -> None:
        super().__init__(message)
        self.rows = rows


class OutputWriteError(RunStoppingError):
    """The output file could not be written (a full disk, a folder gone read-only): the rows' results
    are in the state table, paid for and kept, and `rowrelay export` writes them once it can."""

    def __init__(self, path: str, reason: str, *, state: object = "STATE") -> None:
        self.path, self.reason, self.state = path, reason, state
        super().__init__(self.said())

    def said(self, state: object = None) -> str:
        """The message, naming the batch's state directory (`state`, else the one it was raised with)."""
        state = self.state if state is None else state
        return (
            f"could not write the output {self.path} ({self.reason}); every row's result is kept in the "
            f"batch's state table: `rowrelay export {shell_arg(state)}` writes it once there is room "
            "(nothing is sent "
            "again)"
        )


class MissingExtraError(UsageError):
    """A feature needs one of rowrelay's optional extras (`rowrelay[agents]`, `rowrelay[plots]`)."""

    def __init__(self, extra: str, feature: str) -> None:
        super().__init__(f"{feature} need rowrelay's optional extra: pip install 'rowrelay[{extra}]'")
        self.extra = extra


class StateError(RunStoppingError):
    """The state table cannot be used as it is: damaged, locked, or written by a newer rowrelay."""


class LeaseHeldError(StateError):
    """Another live runner holds the batch's lease. Its words end in the way on (`way_on`), as the error a
    run raises, from Python too (`tasks/state/lease.held_error`); `held` is what holds the batch, for a
    command whose way on is its own (`said`)."""

    def __init__(self, message: str, *, way_on: str | None = None) -> None:
        self.held, self.way_on = message, way_on
        super().__init__(self.said(way_on))

    def said(self, way_on: str | None) -> str:
        """What holds the batch, then `way_on` (none: nothing after it)."""
        return f"{self.held}; {way_on}" if way_on else self.held


class DamagedFileError(StateError):
    """A file of the state table is torn, truncated or unreadable: `path` names it, `reason` says how.

    Such a file is never skipped silently: whoever reads the table stops here, unless told to skip it
    (`load(..., skip_damaged=True)`), and `rowrelay repair` moves it aside.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class CorruptSegmentError(DamagedFileError):
    """A segment or snapshot is torn, truncated, of the wrong schema or not one of ours."""


class MissingVersionsError(DamagedFileError):
    """Versions of the state table that no file holds (a segment or snapshot deleted or lost): `path` is
    the batch directory, `missing` the (first, last) ranges. Rows whose latest version was there would
    read as an older one, or be missing, so the table is refused as for a torn file."""

    def __init__(self, path: str, reason: str, *, missing: tuple[tuple[int, int], ...] = ()) -> None:
        super().__init__(path, reason)
        self.missing = missing


class IllegalTransition(StateError):
    """A status change the transition table forbids (e.g. anything out of `completed`)."""

    def __init__(self, row_key: str, old: str, new: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"row {row_key!r}: illegal transition {old} -> {new}{detail}")
        self.row_key = row_key
        self.old = old
        self.new = new


class ResponseGoneError(TerminalError):
    """The server answered 404 for a continuation token: the response expired or was deleted."""
