"""One row's life: submit under the budget, wait (poll or stream), record the end.

    driver = RowDriver(context)
    await driver.drive("row-0007")     # as far as the row can go in this run

A row's failure is data: whatever happens to one row is written into its state and never raised into
the batch, except for errors that concern the whole run (bad credentials), which `BackendRefusedError`
carries up. Each kind of retry has one owner: the SDK retries transport errors on reads, and the driver
sends rows again as `plan.wants_submit` decides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow.compute as pc

from rowrelay.tasks.errors import CrashedAlikeError
from rowrelay.tasks.llm import Snapshot
from rowrelay.tasks.llm.agent_code_errors import AgentCodeError
from rowrelay.tasks.llm.masking import mask_chain_of, masked, secrets_of
from rowrelay.tasks.records import HOLDING_TOKEN, IN_FLIGHT, RowStatus
from rowrelay.tasks.run import record
from rowrelay.tasks.run.context import RowContext, backoff, now
from rowrelay.tasks.run.crashed_alike import CrashedAlike
from rowrelay.tasks.run.creating import Live
from rowrelay.tasks.run.cut_streams import say_earlier_cut
from rowrelay.tasks.run.follow_up_record import follow_up_unanswered
from rowrelay.tasks.run.plan import wants_submit
from rowrelay.tasks.run.schedule import LatencyModel
from rowrelay.tasks.run.submit import Submitter
from rowrelay.tasks.run.wait import Waiter
from rowrelay.tasks.state import RowState

log = logging.getLogger("rowrelay.wait")

_MAY_COST: frozenset[RowStatus] = IN_FLIGHT | {"pending"}
"""Rows whose cost estimate stays committed: in flight, or admitted under the cap and waiting for the rate
budget (still `pending`)."""


@dataclass
class RowDriver:
    """Drives rows of one table through one backend. One instance per run, shared by row tasks."""

    context: RowContext
    latencies: LatencyModel = field(default_factory=LatencyModel)
    crashes: CrashedAlike = field(init=False, default_factory=CrashedAlike)
    """The run's crashes so far (`run.crashed_alike`): the runner tells it of each row that ended without."""
    _submitter: Submitter = field(init=False)
    _waiter: Waiter | None = field(init=False)
    _since: datetime = field(init=False, default_factory=now)

    def __post_init__(self) -> None:
        self._submitter = Submitter(self.context)
        background = self.context.background
        self._waiter = (
            None
            if background is None
            else Waiter(self.context, background, self.latencies, since=self._since)
        )

    def hold_in_flight(self, scope: set[str] | None) -> None:
        """Before any row is sent under a cost cap: count what the rows an earlier run left in flight may
        cost (their responses are paid for whatever this run does). `scope`: the run's keys (None: all)."""
        if self.context.spend.ledger.cap is None:
            return
        held = self.context.table.keys_with_status(
            HOLDING_TOKEN, ("response_id",), lambda rows: pc.is_valid(rows.column("response_id")), among=scope
        )
        for key in held:
            self._submitter.hold(key)

    async def drive(self, key: str) -> None:
        """Take one row as far as it can go in this run."""
        table, pace = self.context.table, self.context.pace
        if pace.cut_streams.earlier is not None:  # the session's first row: now it is worth saying
            say_earlier_cut(self.context)
        live: Live | None = None
        transient = 0
        while True:
            row = table.get(key)
            if row.status in HOLDING_TOKEN and row.response_id is not None and self._waiter is not None:
                pace.waiting += 1
                try:
                    snapshot = await self._waiter.wait(row, live)
                finally:
                    pace.waiting -= 1
                live = None
                if snapshot is not None:
                    self.record_end(key, snapshot)
            elif wants_submit(row, self.context.policy):
                pace.sending += 1
                try:
                    outcome = await self._submitter.submit(row)
                finally:
                    pace.sending -= 1
                if outcome == "capped":
                    return  # held back by the cost cap: a run with a higher one sends it
                if outcome == "wait":  # room under the cap once rows in flight end
                    await self.context.spend.changed(lambda other: table.get(other).status in _MAY_COST)
                    continue
                if not isinstance(outcome, Snapshot):
                    after = table.get(key)
                    self.context.spend.sent(key, after.status, after.error_type)
                if isinstance(outcome, Snapshot):
                    self.record_end(key, outcome)
                elif outcome == "retry":
                    transient += 1
                    await self.context.sleep(backoff(transient))
                elif outcome != "throttled":
                    live = outcome
            else:
                return

    async def masked(self, exc: Exception) -> tuple[str, ...]:
        """Mask, in place, a row's crash (and every exception down its chain) of the credentials the run's
        clients send, before it is logged and recorded (`crashed`): a crash is no server's answer, so
        nothing masked its words as they arrived, yet they may quote a key (a client's or request's repr
        in a bug's message, a library's error), and they went to the row's `error_message` or note, the
        output's `error` column, the summary and the runner's traceback in the logs. An agent's own
        code's errors come masked already (`AgentCodeError`). Returns the credentials, for `crashed` to
        mask the words it writes too: an exception whose `__str__` reads an attribute (a client kept on
        it) says the key whatever its arguments are."""
        secrets = await secrets_of(self.context.backend)
        mask_chain_of(exc, secrets)
        return secrets

    def crashed(self, key: str, exc: Exception, secrets: tuple[str, ...] = ()) -> CrashedAlikeError | None:
        """Tell and record a bug or surprise that ended the row's drive in this run; the run's stop when its
        first crashes are alike (`run.crashed_alike`: every row's fault, not this one's), else None (the batch
        goes on). What it may have cost decides: a row `submitting` may have started a paid job its create
        never named, so it is counted as any such create is (an attempt and an orphan: failed outright, a
        later run sent it again with neither counted), unless its agent's client saw no request leave
        (`AgentCodeError`: it fails with the error); a row holding a token keeps it, for a later run to wait
        on, never to send anew, with a note saying why it is still waited on; a `pending` row sent nothing and
        fails with the error. A row that has ended (or was given up on) keeps what it recorded: a crash after
        its end was written raised `IllegalTransition` here (`completed` -> `failed`), out of the runner's
        handler, stopping the batch, or wrote `internal` over an answer paid for. `exc` has been `masked` of
        the run's keys (the runner does so first, and gives the `secrets` it masked with): what is logged
        and recorded of it is masked of them again, as said."""
        stop = self.crashes.crashed(key, exc, secrets)  # told first: whatever recording it meets, it was said
        self._record_crash(key, exc, secrets)
        return stop

    def _record_crash(self, key: str, exc: Exception, secrets: tuple[str, ...]) -> None:
        context, row = self.context, self.context.table.get(key)
        # An agent's own code raising is said as its backend masked it (the key it quoted, as a server's).
        said = str(exc) if isinstance(exc, AgentCodeError) else f"{type(exc).__name__}: {exc}"
        said = masked(said, secrets)  # whatever `str(exc)` gives: masking in place cannot reach all
        if row.status == "submitting" and isinstance(exc, AgentCodeError) and not exc.may_have_sent:
            # Its client saw no request leave: nothing can have started, so nothing is counted as maybe
            # sent (it was: an orphan, and "possible duplicate jobs" said on every later run).
            context.table.transition(key, "failed", error_type="internal", error_message=said)
            after = context.table.get(key)
            context.spend.sent(key, after.status, after.error_type)
        elif row.status == "submitting":
            context.maybe_created(
                row, f"the row crashed while its create was on its way ({said})", answer_lost=False
            )
            after = context.table.get(key)
            context.spend.sent(key, after.status, after.error_type)  # its estimate kept as maybe spent
        elif row.status in HOLDING_TOKEN and not follow_up_unanswered(row):
            # A tool round's follow-up noted as on its way keeps that note: the next run counts the
            # follow-up by it (an attempt and an orphan), where this one, written over it, hid a create
            # that may have started a paid job.
            note = f"crashed while waited on ({said}); the next run waits on it again"
            context.table.update(key, note=note)
        elif row.status == "pending":
            context.table.transition(key, "failed", error_type="internal", error_message=said)

    def record_end(self, key: str, snapshot: Snapshot) -> None:
        """Record a terminal snapshot, and learn from a completion: its latency, its output size and what
        its attachments cost. Also how a stopping run records a response its cancel found ended."""
        context, row, moment = self.context, self.context.table.get(key), now()
        if row.response_id is not None:
            context.holders.pop(row.response_id, None)
        waiter = self._waiter
        finished = None if waiter is None else waiter.finished_after.pop(key, None)
        last_event = None if waiter is None else waiter.last_events.pop(key, None)
        cost = context.spend.settle(key, snapshot)  # first: a bug in pricing counts its estimate there
        try:
            self._learned(key, row, snapshot, finished, moment)
        except Exception:  # a bug in what a run learns must not keep a paid answer from its row
            # Raised out of here, the row stayed in flight (its note: crashed while waited on), and met
            # the same crash on every later run: its answer, paid for, never recorded, `retry` with
            # nothing to send. Settled before, so the cost cap has counted the answer either way.
            log.exception("%s: learning from its answer failed; its end is recorded as it is", key)
        policy = context.policy
        ended = record.ended(
            snapshot, row, moment, max_attempts=policy.max_attempts, output_schema=policy.output_schema,
            cost=cost, last_event=last_event,
        )  # fmt: skip
        context.apply(key, ended)

    def _learned(
        self, key: str, row: RowState, snapshot: Snapshot, finished: float | None, moment: datetime
    ) -> None:
        """Learn from a completion: its latency, its output size, what its attachments cost."""
        context = self.context
        if snapshot.status == "completed":
            if finished is None and row.submitted_at is not None:
                finished = (moment - row.submitted_at).total_seconds()  # seen live (stream) or at once
            # Only from this session's creates: a row resumed from an earlier run (a crash last night)
            # took what it took before this run began, and hours learned as a latency would hold every
            # new row's first look back as long.
            if finished is not None and row.submitted_at is not None and row.submitted_at >= self._since:
                self.latencies.observe(finished)
            if snapshot.output_tokens is not None:
                context.budget.output.observe(snapshot.output_tokens)
            if context.attachments is not None and snapshot.input_tokens is not None:
                text = context.text_tokens(context.prompts(key))  # rendered again: only batches with media
                context.attached_tokens.observe(snapshot.input_tokens, text, context.attachments(key))
