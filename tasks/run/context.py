"""What the parts of a row's life share: the table, the backend, the budget, the policy and the counters."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rowrelay.tasks.errors import RateLimitedError
from rowrelay.tasks.llm import Backend, BackgroundBackend, RateBudget, estimate_tokens, in_background
from rowrelay.tasks.media_refs import Attachment
from rowrelay.tasks.run import record
from rowrelay.tasks.run.attached_tokens import AttachedTokens
from rowrelay.tasks.run.outage import CreateHold, Silence
from rowrelay.tasks.run.pace import Pace
from rowrelay.tasks.run.plan import RowPolicy
from rowrelay.tasks.run.record import Change
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.state import RowState, StateTable

Sleep = Callable[[float], Awaitable[None]]
_MAX_BACKOFF = 30.0


@dataclass
class RunCounters:
    """What a run did, for progress lines, artifacts and benchmarks."""

    creates: int = 0
    polls: int = 0
    resumes: int = 0
    rate_limited: int = 0
    transient_errors: int = 0
    maybe_created: int = 0
    follow_ups: int = 0
    """Creates an agent's tool rounds made inside reads (polls, streams): not among `creates`."""
    workers_lost: int = 0
    """Dask workers that left mid-run (killed), whose shards ran again elsewhere: their creates are
    counted from the state table (`flows.cluster_run`), their other requests are not known."""
    last_error: str | None = None
    """The latest transient error's message: what the progress line shows while errors are retried."""

    def retried(self, error: BaseException) -> None:
        """A transient error (timeout, 5xx, lost connection) that the row retries."""
        self.transient_errors += 1
        self.last_error = str(error)

    def totals(self) -> dict[str, int]:
        """The counts alone, to add up across a cluster's shards."""
        return {name: value for name, value in vars(self).items() if isinstance(value, int)}


@dataclass
class RowContext:
    """One run's collaborators, shared by every row task of the run."""

    table: StateTable
    backend: Backend
    budget: RateBudget
    policy: RowPolicy
    prompts: Callable[[str], str]
    sleep: Sleep = asyncio.sleep
    attachments: Callable[[str], tuple[Attachment, ...]] | None = None
    """A row's images and files by its key (`--image-column`, `--file-column`); None: text alone."""
    attached_tokens: AttachedTokens = field(default_factory=AttachedTokens)
    """What those cost in input tokens, learned from the answers (`run.attached_tokens`)."""
    counters: RunCounters = field(default_factory=RunCounters)
    spend: Spend = field(default_factory=Spend.unpriced)
    """What rows cost, and the cost cap `run.submit` checks before each create."""
    pace: Pace = field(default_factory=Pace)
    """Where the run stands (rows to create, rows waiting), which tells the poll schedule what lag costs."""
    endpoint: str | None = None
    """The endpoint (`run.endpoints`) this context's backend talks to, recorded on every row it creates;
    None for a run without endpoints."""
    silence: Silence = field(default_factory=Silence)
    """What this context's server answered and left unanswered, which `run.outage` watches: its own,
    where the counters are the batch's, shared by every endpoint."""
    hold: CreateHold = field(default_factory=lambda: CreateHold(backoff))
    """Creates held back while their answers are lost (a gateway's burst of 502s): this server's own."""
    background: BackgroundBackend | None = field(init=False)
    """The backend when it runs rows in the background (tokens to wait on), else None."""
    cut_on_stop: set[str] = field(default_factory=set)
    """The rows whose create a stop found on the wire and cut unanswered (`submit`), counted as maybe
    created: the runner's stop says them with what it cancelled (`stops.Cancelled.cut`)."""
    waited_on_stop: set[str] = field(default_factory=set)
    """The rows whose chat create a Ctrl-C found on the wire and waited for to its answer (`submit`,
    `run.answers_awaited`): the runner's stop says them (`stops.Cancelled.waited`)."""
    holders: dict[str, str] = field(default_factory=dict)
    """The row each response id this run's creates were answered with belongs to (`submit` adds it,
    `driver.record_end` takes it away as the row ends): a server naming one id for two rows is found. An
    id a row leaves otherwise (a tool round's, one expired or gone) stays until the run ends: no server
    names it for a create again, and it costs ~100 bytes."""

    def __post_init__(self) -> None:
        self.background = in_background(self.backend)

    def text_tokens(self, prompt: str) -> int:
        """A row's input tokens as estimated before it is sent, but for its attachments."""
        return estimate_tokens(prompt) + estimate_tokens(self.policy.instructions or "")

    @property
    def streaming(self) -> bool:
        # Not once its streams were cut before their ids came (`run.cut_streams`): polled from then on.
        return self.policy.mode == "stream" and self.background is not None and not self.pace.refused_streams

    def apply(self, key: str, change: Change) -> None:
        self.table.transition(key, change.status, **change.fields)

    def retried(self, error: BaseException) -> None:
        """A transient error (timeout, 5xx, lost connection) that the row retries: no answer."""
        self.counters.retried(error)
        self.silence.failed(error)

    def lost_answer(self, reason: str) -> None:
        """A create whose answer never came, so its job may exist (the row counts it)."""
        self.counters.maybe_created += 1
        self.silence.failed(reason)

    def maybe_created(
        self, row: RowState, reason: str, *, answer_lost: bool = True, code: str | None = None
    ) -> None:
        """Count on its row a create that may have started a job no answer named: an attempt and an
        orphan (`record.maybe_created`, with its `code`). `answer_lost`: the server's answer was lost,
        which the outage watch hears of; a create cut short by a crash of rowrelay's own says nothing of
        the server."""
        if answer_lost:
            self.lost_answer(reason)
        else:
            self.counters.maybe_created += 1
        policy = self.policy
        change = record.maybe_created(
            row, reason, max_attempts=policy.max_attempts, policy=policy.orphan_policy, code=code
        )
        self.apply(row.row_key, change)

    def throttled(self, exc: RateLimitedError, *, poll: bool) -> None:
        """A 429 pauses the kind of call that earned it; the row just waits and tries again."""
        self.counters.rate_limited += 1
        self.silence.answers += 1
        self.budget.on_rate_limited(exc.retry_after, poll=poll)


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` transient failures in a row: exponential, capped, jittered."""
    delay: float = min(_MAX_BACKOFF, 0.5 * 2.0 ** (failures - 1))
    return delay * random.uniform(0.75, 1.0)


def now() -> datetime:
    return datetime.now(UTC)


def seconds_since(moment: datetime | None) -> float:
    return 0.0 if moment is None else (now() - moment).total_seconds()
