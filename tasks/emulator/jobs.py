"""The ledger of paid jobs: one entry per create that started one, of either API, whatever became of
its answer. A test counts jobs per row here, and sees which creates' answers reached their client.

An entry outlives its response's retention and deletion (the work was done and paid), but not all that
its response held: once the emulator forgets an ended response, its entry becomes an `EndedJob`, which
keeps only what the ledger shows. The request body (megabytes, when it carries inline images), the plan
(the answer's text) and the record go, and only the start of its prompt is kept. A job the emulator held
no response for (a chat completion, a response created with `store: false`) is cut down the same way once
it is past the retention, and every entry is dropped once it is `LEDGER_RETENTIONS` retentions old: a
long-lived emulator with a retention (the embedded one, reused for weeks by a scheduled job) holds what
its retention window holds and a little more, not every request it was ever sent, nor an entry for each."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any, Literal

from rowrelay.tasks.emulator.faults import NetworkFault
from rowrelay.tasks.emulator.model import Plan
from rowrelay.tasks.emulator.timeline import TERMINAL, Record
from rowrelay.tasks.emulator.token_counts import text_of_input

JobKind = Literal["response", "chat.completion"]
PROMPT_KEPT = 1_000
"""Characters of a prompt the ledger shows (enough to tell rows apart by): a whole prompt may be as large
as the request, and the ledger would hold every one."""
LEDGER_RETENTIONS = 2.0
"""An entry is dropped once its job is this many retention periods old: a test reading the ledger after a
response's retention still finds its job, and an emulator left running for weeks keeps two retentions'
worth of entries (a day's jobs a day more, for the embedded emulator) rather than 0.9 KB a job for ever."""


@dataclass(slots=True)
class Job:
    """A started job. Entries outlive a response's retention and deletion: the work was done and paid."""

    id: str
    kind: JobKind
    body: dict[str, Any]
    plan: Plan
    started: float  # monotonic clock reading at creation
    fault: NetworkFault | None  # what the create's answer met on its way back, if anything
    record: Record | None = None  # responses only: the record (it knows about cancels)
    answered: bool | None = None  # None while the create is still on its way to an answer

    def status(self, elapsed: float) -> str:
        if self.record is not None:
            return self.record.status(elapsed)
        # A chat completion works for its plan's time and ends as its plan says (never `stuck`).
        return "in_progress" if elapsed < self.plan.work_time else self.plan.outcome

    def row(self, elapsed: float) -> dict[str, Any]:
        prompt = prompt_of(self.kind, self.body)  # whole, while the job holds its request
        return _row(self, self.status(elapsed), self.body.get("metadata") or {}, prompt)

    def ended(self, elapsed: float) -> EndedJob | None:
        """This entry as the ledger keeps it once its response is forgotten, `elapsed` seconds after its
        creation; None while its job still works or its create is on its way to an answer (its status is
        then still to come, and the entry keeps everything it is computed from)."""
        status = self.status(elapsed)
        if self.answered is None or status not in TERMINAL:
            return None
        metadata = self.body.get("metadata") or {}
        prompt = prompt_of(self.kind, self.body)[:PROMPT_KEPT]
        return EndedJob(self.id, self.kind, metadata, prompt, status, self.started, self.fault, self.answered)


@dataclass(frozen=True, slots=True)
class EndedJob:
    """What the ledger keeps of a job whose ended response the emulator no longer holds."""

    id: str
    kind: JobKind
    metadata: dict[str, Any]
    prompt: str
    final: str  # the status its response ended with
    started: float
    fault: NetworkFault | None
    answered: bool | None

    def row(self, elapsed: float) -> dict[str, Any]:
        return _row(self, self.final, self.metadata, self.prompt)


def _row(job: Job | EndedJob, status: str, metadata: dict[str, Any], prompt: str) -> dict[str, Any]:
    """A ledger entry as `/emulator/jobs` lists it."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": status,
        "metadata": metadata,
        "prompt": prompt,
        "answered": job.answered is True,
        "fault": None if job.fault is None else str(job.fault),
    }


def prompt_of(kind: JobKind, body: dict[str, Any]) -> str:
    """The row's text as the request carried it: a string `input`, else the last user item or message
    (the text of its parts, when it is a content-part array: an image or file adds nothing)."""
    items = body.get("input") if kind == "response" else body.get("messages")
    if isinstance(items, str):
        return items
    users = [
        item
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and item.get("role") == "user"
    ]
    return text_of_input(users[-1].get("content")) if users else ""


def sweep_ledger(jobs: dict[str, Job | EndedJob], held: Container[str], now: float, retention: float) -> None:
    """Cut down the entries past `retention` whose response the emulator does not hold (`held`: those it
    does are cut down as it forgets them), and drop the ended ones past `LEDGER_RETENTIONS` retentions. A
    job still working keeps its whole entry. `jobs` is in order of creation: the walk stops at the first
    young one."""
    changes: list[tuple[str, EndedJob | None]] = []
    for ident, job in jobs.items():
        age = now - job.started
        if age <= retention:
            break
        entry = job if isinstance(job, EndedJob) else None if ident in held else job.ended(age)
        if entry is None:
            continue  # still working (or still held): its status is to come from what it keeps
        if age > LEDGER_RETENTIONS * retention:
            changes.append((ident, None))
        elif entry is not job:
            changes.append((ident, entry))
    for ident, entry in changes:
        if entry is None:
            del jobs[ident]
        else:
            jobs[ident] = entry
