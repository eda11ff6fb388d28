"""An agent's tool that raises: its first failure said once, with the exception's words; the rest counted.

Agent Framework logs each failed call of a function tool twice: `ERROR Function lookup_order failed
(ValueError).` as the tool's call raises (`FunctionTool.invoke`) and `WARNING Function 'lookup_order'
raised an exception; returning an error result to the model. Set include_detailed_errors=True for the
full detail.` as it hands the model an error result. Neither gives the exception's words (they are AF's
"sensitive data"), and a batch whose tool fails on every row printed two lines a row: 20,000 for a user
trial's 10,000 rows, with nothing to say why, and no count at the end.

`ToolFailures` is a filter the backend puts on AF's logger for its life: it drops those two records, and
says the first failure of each tool itself, with the exception's type and words (masked of the client's
keys, cut at `WORDS`: a tool's exception may quote whatever it was given), then counts the rest, which
the backend's close says per tool. Several backends may be open in one process (an agent endpoint each,
on keys of their own), each with its filter on the one AF logger, and the first to see a record says it:
so a tool's words are masked of the keys of every live backend's clients (`_LIVE`), not only its own,
where another backend's key would have been logged as the tool quoted it. The records are read as AF logs
them, inside the `except` block that caught the tool's exception: the exception is the one being handled
(`sys.exc_info`). The row goes on as AF lets it: the model is told the call failed and answers without
it.
"""

from __future__ import annotations

import logging
import sys
import weakref
from collections import Counter
from collections.abc import Callable, Iterable

from rowrelay.tasks.llm.masking import masked

__all__ = ["WORDS", "ToolFailures"]

log = logging.getLogger("rowrelay.backend")
WORDS = 300
"""Characters of a tool's exception said: its first line of a traceback's worth, not a dump."""
_RAISED = "Function '%s' raised an exception; returning an error result to the model."
"""The start of AF's warning as it hands the model an error result: counted, by the tool it names."""
_FAILED = ("Function %s failed (%s).", "Function failed. Error: %s")
"""AF's error as the tool's call raises (without, and with, its sensitive data on): dropped, the warning
after it counting the same failure."""


_LIVE: weakref.WeakSet[ToolFailures] = weakref.WeakSet()
"""Every filter made and not yet collected: the keys a tool's words are masked of are all of theirs."""


class ToolFailures(logging.Filter):
    """On AF's logger: its two records of each failed tool call replaced by one line per tool, the first
    time, and a count (`counts`); `secrets()` gives the keys a tool's words are masked of."""

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self._secrets = secrets
        _LIVE.add(self)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if not isinstance(message, str):
            return True
        if message in _FAILED:
            return False
        if not message.startswith(_RAISED) or not isinstance(record.args, tuple) or not record.args:
            return True
        tool = str(record.args[0])
        self.counts[tool] += 1
        if self.counts[tool] == 1:
            log.warning(
                "agent tool %r raised %s; the model is told the call failed and the row goes on (AF's "
                "own lines for each failed call are not shown: this tool's later failures are counted, "
                "and said as the run's agent closes)",
                tool,
                self._said(sys.exc_info()[1]),
            )
        return False

    def said_at_close(self) -> None:
        """The run's failed tool calls, per tool, said once as the backend closes (none: nothing)."""
        if not self.counts:
            return
        each = ", ".join(f"{tool} {n:,}" for tool, n in self.counts.most_common())
        total = sum(self.counts.values())
        log.warning(
            "agent tool calls that raised in this run: %s (%s call%s; each tool's first said above, its "
            "model told each call failed)",
            each,
            f"{total:,}",
            "" if total == 1 else "s",
        )

    def _said(self, error: BaseException | None) -> str:
        if error is None:
            return "an exception"
        secrets = {secret for live in list(_LIVE) for secret in live._secrets()}
        words = masked(" ".join(str(error).split()), secrets)  # masked whole, then cut
        if len(words) > WORDS:
            words = words[:WORDS] + "..."
        return f"{type(error).__name__}: {words}" if words else type(error).__name__
