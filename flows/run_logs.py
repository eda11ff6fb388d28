"""rowrelay's log records in the flow run's logs (the Prefect UI's "Logs" tab, `prefect flow-run logs`),
through Prefect's own `APILogHandler`, not by printing.

While a batch flow runs, the `rowrelay` logger gets an API log handler and is opened to INFO, so the
batch's plan, its throttling, retry and failure episodes (flows/narration.py) and its summary reach the
run's logs. Only records logged inside a Prefect run's context are sent (the handler finds the flow run
there); anything else (another thread, `rowrelay status`) is skipped silently, not warned about. A user
who already routes rowrelay to Prefect (`PREFECT_LOGGING_EXTRA_LOGGERS=rowrelay`) keeps that handler and
gets no second one. What reaches a console is the console handler's business: the CLI filters by the
level of its handler (WARNING, INFO with `--verbose`), not of the loggers, so the console is unchanged.

Log lines the server does not take (it is down, or restarting) are said once as a warning, not in
Prefect's words (`_send_logs`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler, APILogWorker

LOGGER = "rowrelay"
_lock = threading.Lock()
_users = 0
_installed: tuple[logging.Handler | None, int] | None = None
"""While any batch runs in this process: the handler added (None if the user's was kept) and the
logger's level before."""


_lost = threading.Event()
"""Set once a batch of log lines failed to reach the server while the current batches run: said once."""


async def _send_logs(self: APILogWorker, items: list[dict[str, Any]]) -> None:
    """Prefect's `APILogWorker._handle_batch` (prefect 3.8.8), which on a failure wrote `--- Error logging
    to API ---` and the error, with no newline, straight onto the console (the run's summary went on on
    the same line): the failure said once, as the run's other warnings are. Only the flow run's logs in
    Prefect lose those lines; the batch, its state table and its output do not. Once no batch runs (the
    worker's last flush as the process exits, a test's server already stopped) nothing is said: there
    is no run left to say it in, and the console's stream may be closed."""
    try:
        await self._client.create_logs(items)
    except Exception as exc:  # as Prefect's: whatever the client raised, the logs are lost, not the run
        if _users and not _lost.is_set():
            _lost.set()
            logging.getLogger("rowrelay.prefect").warning(
                "the Prefect server did not take some of this run's log lines (%s): its flow run's logs "
                "miss them; the batch itself is not affected",
                " ".join(str(exc).split()) or type(exc).__name__,
            )


class _RunLogHandler(APILogHandler):
    """Prefect's API log handler for records logged inside a flow or task run; others are dropped."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "flow_run_id", None) or FlowRunContext.get() or TaskRunContext.get():
            super().emit(record)


@contextlib.contextmanager
def sent_to_flow_run() -> Iterator[None]:
    """Send rowrelay's INFO-and-above records to the current flow run's logs for the block. Re-entrant
    across concurrent batches in one process: the first installs, the last removes."""
    global _users, _installed
    logger = logging.getLogger(LOGGER)
    with _lock:
        if _users == 0:
            _lost.clear()
            APILogWorker._handle_batch = _send_logs  # type: ignore[method-assign]
            theirs = any(isinstance(handler, APILogHandler) for handler in logger.handlers)
            added: logging.Handler | None = None if theirs else _RunLogHandler(logging.INFO)
            if added is not None:
                logger.addHandler(added)
            _installed = (added, logger.level)
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _installed is not None:
                handler, level = _installed
                if handler is not None:
                    logger.removeHandler(handler)
                logger.setLevel(level)
                _installed = None
