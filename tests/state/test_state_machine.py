"""Property test: random transitions, checkpoints and reloads never lose a row or move one backwards.

Invariants: no row lost; `completed` never goes back; `attempts` never decrease; a reloaded table equals
the in-memory one (after a close, every change is durable; reopening only converts `submitting` rows).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rowrelay.tasks.errors import IllegalTransition
from rowrelay.tasks.records import ROW_STATUSES, RowStatus
from rowrelay.tasks.state import StateTable, is_allowed
from tests.support.state import FakeClock

KEYS = [f"k{i}" for i in range(6)]


class StateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="rowrelay-state-"))
        self.clock = FakeClock()
        self.table: StateTable | None = None
        self.completed: set[str] = set()
        self.attempts: dict[str, int] = {}

    def _open(self) -> StateTable:
        return StateTable.open(self.root / "b", batch_id="b", clock=self.clock, checkpoint_interval=0.0)

    @property
    def t(self) -> StateTable:
        assert self.table is not None
        return self.table

    @initialize(n=st.integers(1, len(KEYS)))
    def start(self, n: int) -> None:
        self.table = self._open()
        self.t.add_pending((key, i, f"h{i}") for i, key in enumerate(KEYS[:n]))
        self.keys = KEYS[:n]

    @rule(data=st.data(), status=st.sampled_from(ROW_STATUSES), tick=st.floats(0, 5))
    def move(self, data: st.DataObject, status: RowStatus, tick: float) -> None:
        key = data.draw(st.sampled_from(self.keys))
        self.clock.advance(tick)
        old = self.t.get(key)
        fields = {"response_id": f"resp-{key}-{old.attempts}"} if status in ("queued", "in_progress") else {}
        if is_allowed(old.status, status):
            new = self.t.transition(key, status, **fields)
            assert new.status == status
        else:
            try:
                self.t.transition(key, status)
            except IllegalTransition:
                pass
            else:
                raise AssertionError(f"{old.status} -> {status} should have been refused")

    @rule(data=st.data(), cursor=st.integers(0, 1000))
    def update(self, data: st.DataObject, cursor: int) -> None:
        key = data.draw(st.sampled_from(self.keys))
        self.t.update(key, sequence_number=cursor)

    @rule()
    def flush(self) -> None:
        self.t.flush()

    @rule()
    def commit(self) -> None:
        asyncio.run(self.t.commit())

    @rule(compact=st.booleans())
    def reload(self, compact: bool) -> None:
        self.t.flush()  # assigns versions to the last changes: now memory is what is on disk
        before = {row.row_key: row for row in self.t.rows()}
        if compact:
            self.t.close()
        else:
            self.t.lease.release()  # a crash right after a checkpoint: nothing compacted
        self.table = self._open()
        after = {row.row_key: row for row in self.t.rows()}
        assert after.keys() == before.keys()
        for key, row in before.items():
            if row.status == "submitting":
                assert after[key].status in ("queued", "orphaned")
            else:
                assert after[key] == row

    @invariant()
    def no_row_lost_and_nothing_goes_back(self) -> None:
        if self.table is None:
            return
        assert len(self.t) == len(self.keys)
        for row in self.t.rows():
            if row.row_key in self.completed:
                assert row.status == "completed"
            if row.status == "completed":
                self.completed.add(row.row_key)
            assert row.attempts >= self.attempts.get(row.row_key, 0)
            self.attempts[row.row_key] = row.attempts
        assert sum(self.t.counts().values()) == len(self.keys)

    @precondition(lambda self: self.table is not None)
    @invariant()
    def counts_match_rows(self) -> None:
        by_status: dict[str, int] = {}
        for row in self.t.rows():
            by_status[row.status] = by_status.get(row.status, 0) + 1
        assert {k: v for k, v in self.t.counts().items() if v} == by_status

    def teardown(self) -> None:
        if self.table is not None:
            self.table.close()
        shutil.rmtree(self.root, ignore_errors=True)


StateMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStateMachine = StateMachine.TestCase
