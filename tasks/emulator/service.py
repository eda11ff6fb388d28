"""The emulator's state: held responses, the ledger of jobs started, rate buckets and statistics, with no
HTTP in sight.

One `Emulator` per server; nothing is global, so two emulators can run in one process.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rowrelay.tasks.emulator.admission import charge_create, charge_poll, token_estimate
from rowrelay.tasks.emulator.config import EmulatorConfig
from rowrelay.tasks.emulator.faults import Faults, NetworkFault, draw_network_fault
from rowrelay.tasks.emulator.jobs import EndedJob, Job, sweep_ledger
from rowrelay.tasks.emulator.limits import Bucket, ratelimit_headers
from rowrelay.tasks.emulator.listing import response_row
from rowrelay.tasks.emulator.model import Plan, draw_create_error, plan_response, request_digest
from rowrelay.tasks.emulator.occurrences import Occurrences
from rowrelay.tasks.emulator.replicas import Replicas
from rowrelay.tasks.emulator.retention import expired
from rowrelay.tasks.emulator.timeline import TERMINAL, Record

_SWEEP_EVERY = 1000


class Clock(Protocol):
    """Where the emulator reads time; tests may pass their own."""

    def monotonic(self) -> float: ...
    def wall(self) -> float: ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


@dataclass
class Emulator:
    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    clock: Clock = field(default_factory=RealClock)
    records: dict[str, Record] = field(default_factory=dict)
    routes: Counter[str] = field(default_factory=Counter)
    status_codes: Counter[int] = field(default_factory=Counter)
    watchers: dict[str, set[asyncio.Future[bool]]] = field(default_factory=dict)
    """The streams sleeping on a response, woken early when it is cancelled or deleted."""
    jobs: dict[str, Job | EndedJob] = field(default_factory=dict)
    """The ledger (`jobs.py`), in order of creation; with a retention, its old entries go (`sweep`)."""
    told_ended: dict[str, float] = field(default_factory=dict)
    """Monotonic time a client was first told a response ended (its terminal event written on a stream,
    or a poll answered with it): the benchmarks split a client's lag from the server's own lateness."""
    unanswered: int = 0
    heap: Callable[[], dict[str, Any]] | None = None
    """The collector's counts while serving, when the emulator has a process of its own (`heap.py`)."""
    _creates: int = 0
    """Jobs started, of both APIs: what the ledger would count had it dropped none."""

    def __post_init__(self) -> None:
        self.replicas = Replicas(self.config.replicas, self.config.seed)
        now = self.clock.monotonic()
        self.occurrences = Occurrences(self.config.retention, now)
        window = self.config.rate_window
        self.requests = Bucket.per_minute(self.config.rpm, now, window)
        self.tokens = Bucket.per_minute(self.config.tpm, now, window)
        self.polls = Bucket.per_minute(self.config.poll_rpm, now, window)

    # --- rate limits -------------------------------------------------------------------------

    def admit_create(self, body: dict[str, Any], forced: bool) -> None:
        """Charge a create to the request and token buckets, or raise RateLimited."""
        cost = token_estimate(body, self.config.output_tokens[1])
        charge_create(self.requests, self.tokens, cost, self.clock.monotonic(), forced=forced)

    def admit_poll(self, forced: bool = False) -> None:
        charge_poll(self.polls, self.clock.monotonic(), forced=forced)

    def headers(self, poll: bool) -> dict[str, str]:
        now = self.clock.monotonic()
        return ratelimit_headers(self.polls if poll else self.requests, self.tokens, now)

    # --- responses ---------------------------------------------------------------------------

    def draw_http_error(self, body: dict[str, Any]) -> bool:
        return draw_create_error(self.config, body, self.occurrences.add(request_digest(body)))

    def plan(self, body: dict[str, Any], faults: Faults, *, background: bool) -> Plan:
        """The fake model's plan for this request (its fault draw depends on prior identical ones)."""
        return plan_response(
            self.config,
            body,
            self.occurrences[request_digest(body)],
            background=background,
            forced_fault=faults.outcome,
            forced_latency=faults.latency,
            forced_answer=faults.answer,
        )

    def network_fault(self, body: dict[str, Any], faults: Faults, *, stream: bool) -> NetworkFault | None:
        """The header's network fault when it applies to this create, else one drawn from the seed."""
        forced = faults.network
        if forced is not None and (stream or not forced.stream_only):
            return forced
        return draw_network_fault(self.config, body, self.occurrences, stream=stream)

    def create(self, body: dict[str, Any], faults: Faults, *, background: bool) -> Record:
        """Start a response's job; its ledger entry is `jobs[record.id]`."""
        self._count_create()
        plan = self.plan(body, faults, background=background)
        stream_options = body.get("stream_options") or {}
        stream = bool(body.get("stream"))
        record = Record(
            id="resp_" + secrets.token_hex(24),
            message_id="msg_" + secrets.token_hex(24),
            reasoning_id="rs_" + secrets.token_hex(24),
            body=body,
            created_at=int(self.clock.wall()),
            started=self.clock.monotonic(),
            background=background,
            stream=stream,
            store=body.get("store") is not False,
            plan=plan,
            obfuscation=stream_options.get("include_obfuscation", True) is not False,
            queued_event=self.config.emit_queued,
            drop_after=faults.drop_after or self.config.drop_stream_after,
        )
        fault = self.network_fault(body, faults, stream=stream)
        # The job first: `listing` (a test's thread, reading while this one serves) takes every record it
        # sees to have its job, and once read a record before its job was there (a KeyError mid-test).
        self.jobs[record.id] = Job(record.id, "response", body, plan, record.started, fault, record)
        if record.store or background:
            self.records[record.id] = record
            self.replicas.made(record.id)
        return record

    def start_chat(self, body: dict[str, Any], faults: Faults) -> Job:
        """Start a chat completion's job. Its streams meet no stream-only fault: those model the
        Responses API's lifecycle events, and rowrelay reads chat completions whole."""
        self._count_create()
        plan = self.plan(body, faults, background=False)
        ident = "chatcmpl-" + secrets.token_hex(12)
        fault = self.network_fault(body, faults, stream=False)
        job = self.jobs[ident] = Job(ident, "chat.completion", body, plan, self.clock.monotonic(), fault)
        return job

    def settle(self, job: Job, *, answered: bool) -> None:
        """Record, once, whether the create's answer carrying the job's id reached a connected client."""
        if job.answered is None:
            job.answered = answered
            if not answered:
                self.unanswered += 1

    def elapsed(self, record: Record) -> float:
        return self.clock.monotonic() - record.started

    def get(self, response_id: str) -> Record | None:
        """The record, unless unknown, deleted or past its retention time."""
        record = self.records.get(response_id)
        if record is None:
            return None
        if self._expired(record):
            self._forget(response_id)
            return None
        return record

    def cancel(self, record: Record) -> None:
        """Stop a queued or in-progress background response; terminal ones are left as they are."""
        elapsed = self.elapsed(record)
        if record.status(elapsed) not in TERMINAL:
            record.cancelled_after = elapsed
            self._notify(record.id)

    def delete(self, response_id: str) -> None:
        self._forget(response_id)

    def job(self, response_id: str) -> Job:
        """The ledger entry of a response the emulator still holds (or has just created)."""
        job = self.jobs[response_id]
        assert isinstance(job, Job), f"{response_id} was forgotten"
        return job

    def _forget(self, response_id: str) -> None:
        self.records.pop(response_id, None)
        self.replicas.forget(response_id)
        self.told_ended.pop(response_id, None)
        self._notify(response_id)
        job = self.jobs.get(response_id)
        if isinstance(job, Job) and (ended := job.ended(self.clock.monotonic() - job.started)) is not None:
            self.jobs[response_id] = ended

    def _expired(self, record: Record) -> bool:
        return expired(self.config, record, self.elapsed(record))

    def _count_create(self) -> None:
        self._creates += 1
        if self._creates % _SWEEP_EVERY == 0:
            self.sweep()

    def sweep(self) -> None:
        """Drop responses past retention, then the ledger's old entries (`jobs.sweep_ledger`). Dicts keep
        creation order, so stop at the first young one."""
        if self.config.retention is None:
            return
        for response_id, record in list(self.records.items()):
            if not self._expired(record):
                break
            self._forget(response_id)
        now = self.clock.monotonic()
        sweep_ledger(self.jobs, self.records, now, self.config.retention)
        self.occurrences.age(now)

    # --- waiting for change (streams) --------------------------------------------------------

    async def pause(self, response_id: str, seconds: float) -> bool:
        """Sleep up to `seconds`; True if woken early because the response was cancelled or deleted.
        A stream sleeps between its events (a response's deltas are a score of wakes): a future and a
        timer cost half the CPU of `asyncio.timeout` around an `Event.wait` (10 µs a wake, not 20)."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _settle, woken, False)
        sleeping = self.watchers.setdefault(response_id, set())
        sleeping.add(woken)
        try:
            return await woken
        finally:
            timer.cancel()
            sleeping.discard(woken)

    def telling_end(self, response_id: str) -> None:
        """A client is being told this response ended (the first time counts)."""
        self.told_ended.setdefault(response_id, self.clock.monotonic())

    def _notify(self, response_id: str) -> None:
        for woken in self.watchers.pop(response_id, ()):
            _settle(woken, True)

    # --- inspection --------------------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        """Every response held, past retention ones left out, as `/emulator/responses` lists them."""
        rows = []
        # Wall time of creation to the microsecond, from the monotonic start (benchmarks measure lag).
        wall_offset = self.clock.wall() - self.clock.monotonic()
        for record in list(self.records.values()):
            if self._expired(record):
                continue
            elapsed = self.elapsed(record)
            told = self.told_ended.get(record.id)
            rows.append(response_row(record, self.job(record.id), elapsed, told, wall_offset))
        return rows

    def jobs_listing(self) -> list[dict[str, Any]]:
        """Every job started, of both APIs, in order of creation (see `Job.row`)."""
        now = self.clock.monotonic()
        return [job.row(now - job.started) for job in list(self.jobs.values())]

    def stats(self) -> dict[str, Any]:
        """`counts`, with the held responses by current status and the collector's record: the statuses
        walk every response held (~20 us each, 2 s at 100,000), on the loop that serves."""
        final: Counter[str] = Counter(row["status"] for row in self.listing())
        return {
            **self.counts(),
            "final_status": dict(final),
            "gc": None if self.heap is None else self.heap(),
        }

    def counts(self) -> dict[str, Any]:
        """What `stats` counts as requests come (by route, by HTTP status, creates, responses held), at a
        cost that does not grow with the responses held: what a client watching a ramp of creates reads.
        bench_inflight --through-cli read `stats` twice a second while 100,000 went in flight, and the
        emulator's core spent most of its time on the walk: creates fell from 1,800/s to 350/s."""
        return {
            "routes": dict(self.routes),
            "status_codes": {str(code): n for code, n in sorted(self.status_codes.items())},
            "held": len(self.records),
            "jobs": self._creates,
            "unanswered_creates": self.unanswered,
        }


def _settle(woken: asyncio.Future[bool], early: bool) -> None:
    if not woken.done():  # a timer that fired, or a stream that left, settles nothing twice
        woken.set_result(early)
