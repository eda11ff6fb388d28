"""A console filter for Prefect's records of an error someone else reports in one line.

Used by the command line while a run goes (`flows/cli_errors.told_once`) and by each Dask worker that
runs a shard (`tasks/steps.py`), whose console is often the command's own: the run's coordinator
reports a run-level error (an outage, a refused key, a full disk) in one line, and Prefect's task
engine on every worker would otherwise print its traceback above that line, once per shard.
"""

from __future__ import annotations

import logging

CONSOLE_LEVEL = "ROWRELAY_CONSOLE_LEVEL"
"""The environment variable the command line sets to its console's level (WARNING, INFO with
`--verbose`): the Dask workers of `--dask-workers` are its child processes, printing to its stderr, and
show what its console shows (set it on another cluster's workers to the same effect)."""

_STOPPED = (
    "Execution was cancelled by the runtime environment.",
    "Execution was aborted by an interrupt signal.",
    "Execution was aborted by a termination signal.",
)
"""How Prefect's engine words the crashed state of task and flow runs stopped by Ctrl-C or SIGTERM
(`prefect.states.exception_to_crashed_state`): it logs each run as "Crash detected!" (ERROR), then as
finished Crashed, four lines that read as a failure above the command's own "interrupted: ..." line."""


class ReportedByTheCommand(logging.Filter):
    """For the console's handler during a run: drops Prefect's records of an exception the command
    reports itself in one line (`reported`: a usage or state problem, a refusal by the backend).

    Prefect logs a failed task and flow run twice each, with the traceback and then its final state; they
    still reach the flow run's logs on the Prefect server (another handler), only not the console, where
    seventy lines of traceback hid the one line that says what to do. The final-state records carry no
    exception, only its text, so the text of each exception seen is remembered and matched.

    `signals` (Prefect's `TerminationSignal`) are dropped from every logger, by their exception alone:
    Prefect raises SIGTERM as one wherever the main thread is, and when that is inside a socket write
    asyncio logs it as a "Fatal write error" with its traceback, though it is only the signal the user
    sent, which the command reports ("terminated: ..."); so are Prefect's records of the runs it stopped
    (`_STOPPED`)."""

    def __init__(
        self, reported: tuple[type[BaseException], ...], signals: tuple[type[BaseException], ...] = ()
    ) -> None:
        super().__init__()
        self.reported = reported
        self.signals = signals
        self.texts: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if self.signals and isinstance(exc, self.signals):
            return False
        if not record.name.startswith("prefect."):
            return True
        message = record.getMessage()
        if self.signals and any(text in message for text in _STOPPED):
            return False  # "Crash detected!" for a run the user stopped, which the command says itself
        if isinstance(exc, self.reported):
            if str(exc):  # an empty text would match every later record
                self.texts.add(str(exc))
            return False
        return not any(text in message for text in self.texts)
