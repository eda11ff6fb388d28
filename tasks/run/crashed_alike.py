"""When every row crashes alike, the run stops sending, as when every create is refused alike.

A bug or surprise in one row's drive fails that row alone (`RowDriver.crashed`), which is right for a
fault of that row's: the batch goes on. A fault that hits every row alike (a bug reading every create's
stream) is the run's, not the rows': a trial's run sent and paid for all 100 creates, logged 100
tracebacks (4,072 console lines in 0.6 s), and ended Completed, "100 of 100 rows did not complete (100
orphaned)"; the next run sent 50 of them again.

So the run stops sending once its first `ALIKE` crashes are of `ALIKE` rows, of one exception type
raised at one place (module, line and function), and no row's drive ended without a crash meanwhile
(`run.alike`). Each crash is recorded on its row as before (a create on its way counted, a token kept):
stopping loses count of no job. A crash's traceback is logged once for each type and place; a row
crashing alike later is one line naming the row before it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from traceback import format_exception

from rowrelay.tasks.errors import CrashedAlikeError
from rowrelay.tasks.llm.masking import masked
from rowrelay.tasks.records import SAID_CAP, one_line
from rowrelay.tasks.run.alike import ALIKE, FirstAlike

log = logging.getLogger("rowrelay.runner")

Place = tuple[str, str, int, str]
"""A crash's kind: its exception's type, and the module, line and function that raised it."""


def place_of(exc: BaseException) -> Place:
    """`exc`'s type and where it was raised: the innermost frame of its traceback."""
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    tb = exc.__traceback__
    if tb is None:  # raised nowhere (made and handed over): its type alone
        return (kind, "", 0, "")
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    module = tb.tb_frame.f_globals.get("__name__") or code.co_filename
    return (kind, str(module), tb.tb_lineno, code.co_qualname)


def place_said(place: Place) -> str:
    """`rowrelay.tasks.llm.responses_events:57 in read`."""
    _, module, line, function = place
    return f"{module}:{line} in {function}" if module else "no traceback"


@dataclass
class CrashedAlike:
    """A run's crashes: which were told with their traceback, and whether the first are alike."""

    first: FirstAlike = field(default_factory=FirstAlike)
    _told: dict[Place, str] = field(default_factory=dict)
    """Each kind of crash told with its traceback, and the row it was told for."""

    def ended(self) -> None:
        """A row's drive ended without a crash: the crashes are not every row's."""
        self.first.spoiled()

    def crashed(self, key: str, exc: Exception, secrets: Iterable[str] = ()) -> CrashedAlikeError | None:
        """Tell the row's crash (`exc`, masked already), its traceback only for the first of its kind;
        the run's stop when the run's first crashes are alike (this one the `ALIKE`th), else None. What it
        says of `exc` is masked of `secrets` as said, its traceback too (`_log_masked`)."""
        place = place_of(exc)
        words = one_line(masked(str(exc), secrets), SAID_CAP)
        first = self._told.setdefault(place, key)
        if first == key:
            _log_masked(f"row {key} crashed", exc, secrets)
        else:
            log.error(
                "row %s crashed as row %s did: %s: %s (at %s; traceback above)",
                key, first, type(exc).__name__, words, place_said(place),
            )  # fmt: skip
        stopped = self.first.stopped
        if not self.first.failed(key, place) or stopped:
            return None
        return CrashedAlikeError(
            f"every row crashes alike, so the run stopped sending: its first {ALIKE} rows crashed with "
            f"{type(exc).__name__}: {words} (raised at {place_said(place)}; the traceback is in "
            "the log) and no row ended otherwise. A bug, rowrelay's or the agent's: report it with that "
            "traceback. Each crashed row is recorded (a create on its way counted on it), rows in flight "
            "keep their response ids, and the same command resumes once it is fixed"
        )


def _log_masked(said: str, exc: BaseException, secrets: Iterable[str]) -> None:
    """Log `said` as an error with `exc`'s traceback, that traceback masked of `secrets`. The record keeps
    `exc_info` (for handlers that read the exception itself) and its text is set already: a formatter uses
    it as it stands, where formatting `exc_info` itself would print words masking in place cannot reach
    (an `__str__` reading an attribute, a client kept on the exception)."""
    if not log.isEnabledFor(logging.ERROR):
        return
    path, line, function, _ = log.findCaller()
    record = log.makeRecord(
        log.name, logging.ERROR, path, line, said, (), (type(exc), exc, exc.__traceback__), function
    )
    record.exc_text = masked("".join(format_exception(exc)).rstrip("\n"), secrets)
    log.handle(record)
