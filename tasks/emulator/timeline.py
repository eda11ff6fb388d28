"""A response's life as a timeline of events, each at a fixed offset from its creation.

The timeline is derived from the record's plan, so the emulator stores no event log: the events seen so
far, the status and the partial output at any instant are all folds over the timeline up to that
instant. This is what makes background work belong to the server: it advances with the clock whether or
not anyone is listening, and a resumed stream replays exactly the same numbered events.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from rowrelay.tasks.emulator.model import Plan

EntryKind = Literal[
    "created",
    "queued",
    "in_progress",
    "reasoning_added",
    "summary_part_added",
    "summary_delta",
    "summary_text_done",
    "summary_part_done",
    "reasoning_done",
    "search_added",
    "search_in_progress",
    "search_searching",
    "search_completed",
    "search_done",
    "message_added",
    "part_added",
    "delta",
    "annotation_added",
    "text_done",
    "part_done",
    "message_done",
    "call_added",
    "arguments_delta",
    "arguments_done",
    "call_done",
    "error",
    "terminal",
]
Status = Literal["queued", "in_progress", "completed", "failed", "incomplete", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "incomplete", "cancelled"})


class Entry(NamedTuple):
    """One event of a timeline. A named tuple builds in half the time of a frozen dataclass, and every
    stream, poll and create builds a timeline of a few dozen of them."""

    offset: float
    kind: EntryKind
    chunk: int = -1  # for deltas: index into plan.chunks (plan.call.chunks, plan.summary for theirs);
    # for a search's events (web or file alike), into plan.searches; for an annotation, into plan.citations


CREATED = (Entry(0.0, "created"),)
"""How every timeline begins: what a background create's `queued` snapshot has seen."""


@dataclass(slots=True)
class Record:
    """One response held by the emulator. Mutable only through cancel and delete."""

    id: str
    message_id: str
    reasoning_id: str
    body: dict[str, Any]
    created_at: int
    started: float  # monotonic clock reading at creation
    background: bool
    stream: bool
    store: bool
    plan: Plan
    obfuscation: bool = True
    queued_event: bool = True  # emit `response.queued` after `response.created` (background only)
    drop_after: int | None = None
    cancelled_after: float | None = None  # seconds after creation

    @property
    def entries(self) -> tuple[Entry, ...]:
        # Rebuilt on demand (a few microseconds) rather than stored: 100,000 held responses would
        # otherwise carry millions of small objects.
        return build_timeline(self.plan, background=self.background, queued=self.queued_event)

    def horizon(self, elapsed: float) -> float:
        """The instant (seconds after creation) up to which entries have happened, `elapsed` seconds after
        creation: then, or when it was cancelled if that came first."""
        return elapsed if self.cancelled_after is None else min(elapsed, self.cancelled_after)

    def visible(self, elapsed: float) -> tuple[Entry, ...]:
        """The entries that have happened `elapsed` seconds after creation."""
        horizon = self.horizon(elapsed)
        entries = self.entries
        # Timelines hold at most a few dozen entries; a linear scan is cheaper than bisect's setup.
        count = 0
        for entry in entries:
            if entry.offset > horizon:
                break
            count += 1
        return entries[:count]

    def status(self, elapsed: float) -> Status:
        return status_of(self, self.visible(elapsed))

    @property
    def call_item_id(self) -> str:
        """The id of the function_call output item (`fc_` + 48 hex, like the message's)."""
        return "fc_" + self.message_id[4:]

    @property
    def call_id(self) -> str:
        """The `call_id` the model gave its function call, which a `function_call_output` answers."""
        return "call_" + hashlib.blake2b(self.id.encode(), digest_size=12).hexdigest()

    def open_calls(self) -> frozenset[str]:
        """Call ids a create naming this response as `previous_response_id` must answer."""
        done = self.plan.call is not None and self.plan.outcome == "completed"
        return frozenset({self.call_id}) if done and self.cancelled_after is None else frozenset()

    @property
    def finished_after(self) -> float | None:
        """Seconds from creation to the terminal event, or None if it never ends on its own."""
        return finish_of(self.entries)


def finish_of(entries: tuple[Entry, ...]) -> float | None:
    """The offset of a timeline's terminal event, or None if it never ends on its own (stuck)."""
    last = entries[-1]
    return last.offset if last.kind == "terminal" else None


def status_of(record: Record, seen: tuple[Entry, ...], *, live: bool = True) -> Status:
    """The status after the `seen` entries. `live` is the state now, including a cancel; `live=False`
    is the state as it was at the last seen entry, which is what a replayed lifecycle event must show."""
    if live and record.cancelled_after is not None:
        return "cancelled"
    last = seen[-1].kind if seen else "created"
    if last == "terminal":
        outcome = record.plan.outcome
        return "completed" if outcome == "completed" else outcome  # type: ignore[return-value]
    if last in ("created", "queued"):
        return "queued" if record.background else "in_progress"
    return "in_progress"


def build_timeline(plan: Plan, *, background: bool, queued: bool = True) -> tuple[Entry, ...]:
    start = plan.queue_delay
    end = max(start, plan.work_time)
    entries = [*CREATED]
    if background and queued:
        entries.append(Entry(0.0, "queued"))
    if plan.outcome == "stuck":
        return tuple(entries)
    entries.append(Entry(start, "in_progress"))
    if plan.reasoning:
        entries.append(Entry(start, "reasoning_added"))
        if plan.summary:
            # The summary streams inside its reasoning item. The emulator's reasoning takes no time of its
            # own, so neither does its summary: asking for one moves none of the answer's events.
            entries.append(Entry(start, "summary_part_added"))
            entries += [Entry(start, "summary_delta", i) for i in range(len(plan.summary))]
            entries += [Entry(start, "summary_text_done"), Entry(start, "summary_part_done")]
        entries.append(Entry(start, "reasoning_done"))
    searched = _searches(plan, entries, start, end)
    if plan.call is not None:
        # A function call streams as one output item whose arguments arrive in deltas (no content part).
        head: list[EntryKind] = ["call_added"]
        delta: EntryKind = "arguments_delta"
        tail: list[EntryKind] = ["arguments_done", "call_done"]
        chunks = len(plan.call.chunks)
    else:
        head, delta, tail = (
            ["message_added", "part_added"],
            "delta",
            ["text_done", "part_done", "message_done"],
        )
        chunks = len(plan.chunks)
    if not plan.wrote:  # the reasoning spent every token: no answer item opens, none is done
        head, tail = [], []
    entries += [Entry(searched, kind) for kind in head]
    sent = chunks // 2 if plan.outcome == "failed" else chunks
    entries += [Entry(searched + (end - searched) * (i + 1) / max(1, chunks), delta, i) for i in range(sent)]
    if plan.outcome == "failed":
        entries += [Entry(end, "error"), Entry(end, "terminal")]
    else:
        # The citations are added once the text is written, before it is done (a call has none).
        entries += [Entry(end, "annotation_added", i) for i in range(len(plan.citations))]
        entries += [*(Entry(end, kind) for kind in tail), Entry(end, "terminal")]
    return tuple(entries)


SEARCH_SHARE = 0.5
"""The share of the work time a response with searches (web or file) spends searching, before it writes."""


def _searches(plan: Plan, entries: list[Entry], start: float, end: float) -> float:
    """Append the searches' entries, one search after another from `start`, each in its own equal slice
    of the searching time; returns when the answer starts (`start` when there are none)."""
    count = len(plan.searches)
    if not count:
        return start
    searching = (end - start) * SEARCH_SHARE
    for index in range(count):
        begun = start + searching * index / count
        found = start + searching * (index + 1) / count
        entries += [Entry(begun, "search_added", index), Entry(begun, "search_in_progress", index)]
        entries.append(Entry((begun + found) / 2, "search_searching", index))
        entries += [Entry(found, "search_completed", index), Entry(found, "search_done", index)]
    return start + searching
