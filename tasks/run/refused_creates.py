"""A create that did not answer with a job: what its row spends, by whether a job may exist.

- no answer that names the job (`MaybeSentError`: a timeout, a cut connection, a gateway's 5xx, a stream
  that broke before any event named the response): maybe created, one attempt and one orphan counted,
  with the reason, and the row sent again only within its attempts (`plan.wants_submit`);
- refused before anything started (429, a transient error that reached no job, a create that never had
  a connection): nothing spent, sent again (`pending`), the first unreachable server said at once;
- refused as invalid (400/422): failed `rejected`, never sent again automatically; every create refused
  alike stops the run (`run.refused_alike`);
- the server refused the run, not the row (401/403, an unknown model): the row back to `pending`, and
  the run stops.

`run.submit` sends; this module records what a create that was not taken did to its row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from rowrelay.tasks.errors import RateLimitedError, TransientError, seconds_said
from rowrelay.tasks.llm import (
    BackendRefusedError,
    MaybeSentError,
    NotSentError,
    NotTheApiError,
    RequestRejectedError,
)
from rowrelay.tasks.llm.chat_timeouts import AnswerTooSlowError
from rowrelay.tasks.run import record
from rowrelay.tasks.run.context import RowContext, now
from rowrelay.tasks.run.refused_alike import RefusedAlike
from rowrelay.tasks.run.row_request import prompt_tokens, row_request
from rowrelay.tasks.state import RowState
from rowrelay.tasks.state.orphans import ANSWER_TIMEOUT

__all__ = ["RefusedCreates"]

log = logging.getLogger("rowrelay.submit")  # the sender's logger: what filters and tests match

Refused = Literal["retry", "throttled"] | None
"""Go round again (`retry`, or `throttled` by a 429), or None: the row's state says what happened."""


@dataclass
class RefusedCreates:
    """One session's refused creates: `alike` is the submitter's own (it hears of every create taken)."""

    context: RowContext
    alike: RefusedAlike
    _told_unreachable: bool = False

    def refused(
        self, row: RowState, exc: TransientError | RequestRejectedError | BackendRefusedError
    ) -> Refused:
        """Record a create that did not answer with a job; what it spends depends on whether one may exist."""
        context, key = self.context, row.row_key
        if isinstance(exc, MaybeSentError | NotTheApiError):  # the latter also stops the run
            code = ANSWER_TIMEOUT if isinstance(exc, AnswerTooSlowError) else None  # held (state.orphans)
            context.maybe_created(row, str(exc), code=code)
            return None
        if isinstance(exc, RateLimitedError):
            context.throttled(exc, poll=False)
            context.table.transition(key, "pending")  # refused before anything started
            return "throttled"
        if isinstance(exc, RequestRejectedError):
            context.silence.answers += 1
            context.budget.give_back_create(prompt_tokens(context, row_request(context, key)))  # none started
            failure = record.failed(
                "rejected", None, str(exc), row.attempts, now(), max_attempts=context.policy.max_attempts
            )
            context.apply(key, failure)
            return None
        if isinstance(exc, BackendRefusedError):
            context.table.transition(key, "pending")  # nothing started; the run stops
            return None
        if isinstance(exc, NotSentError) and not self._told_unreachable:
            # Said at once: the progress line comes every 30 s where stderr is a log, and a server that
            # never answers (a mistyped --base-url) keeps rows waiting for as long as the run lasts.
            self._told_unreachable = True
            give_up_after = context.policy.give_up_after
            # With several endpoints, whose server: the other endpoints' rows go on meanwhile.
            at = "" if context.endpoint is None else f" of endpoint {context.endpoint!r}"
            log.warning(
                "cannot reach the server%s (%s): rows wait and are sent again once it answers, spending "
                "nothing meanwhile%s",
                at,
                exc,
                f"; the run stops if it answers nothing for {seconds_said(give_up_after)}"
                if give_up_after
                else "",
            )
        context.retried(exc)
        context.table.transition(key, "pending", error_type="transient", error_message=str(exc))
        return "retry"

    def refused_alike(self, key: str, exc: RequestRejectedError, *, stopping: bool = False) -> None:
        """When every create is refused alike (`run.refused_alike`): its rows back to `pending`, nothing
        having started, and the run stops (unless stopping already)."""
        rows = self.alike.refused(key, exc)
        for other in rows:
            cleared = {"error_type": None, "error_code": None, "error_message": None, "completed_at": None}
            self.context.table.transition(other, "pending", **cleared)
        if rows and not stopping:
            raise self.alike.stop()
