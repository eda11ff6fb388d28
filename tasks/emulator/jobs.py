"""The ledger of paid jobs: one entry per create that started one, of either API, whatever became of
its answer. A test counts jobs per row here, and sees which creates' answers reached their client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rowrelay.tasks.emulator.faults import NetworkFault
from rowrelay.tasks.emulator.model import Plan, text_of_input
from rowrelay.tasks.emulator.timeline import Record

JobKind = Literal["response", "chat.completion"]


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
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status(elapsed),
            "metadata": self.body.get("metadata") or {},
            "prompt": prompt_of(self.kind, self.body),
            "answered": self.answered is True,
            "fault": None if self.fault is None else str(self.fault),
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
