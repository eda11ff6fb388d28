"""The transition table: explicit, pure, and enforced by the table with a clear error."""

from __future__ import annotations

import pytest

from rowrelay.tasks.errors import StateError
from rowrelay.tasks.records import ROW_STATUSES
from rowrelay.tasks.state import TRANSITIONS, IllegalTransition, StateTable, check_transition, is_allowed


def test_every_status_has_an_entry() -> None:
    assert set(TRANSITIONS) == set(ROW_STATUSES)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("pending", "submitting"),
        ("pending", "failed"),
        ("submitting", "queued"),
        ("submitting", "pending"),
        ("submitting", "orphaned"),
        ("queued", "expired"),
        ("in_progress", "completed"),
        ("failed", "submitting"),
        ("orphaned", "pending"),
        ("expired", "submitting"),
        ("completed", "completed"),
    ],
)
def test_allowed(old: str, new: str) -> None:
    assert is_allowed(old, new)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("pending", "completed"),
        ("pending", "queued"),
        ("completed", "pending"),
        ("completed", "submitting"),
        ("in_progress", "queued"),
        ("in_progress", "pending"),
        ("queued", "submitting"),
    ],
)
def test_forbidden(old: str, new: str) -> None:
    assert not is_allowed(old, new)  # type: ignore[arg-type]


def test_completed_never_moves() -> None:
    for status in ROW_STATUSES:
        if status != "completed":
            assert not is_allowed("completed", status)


def test_error_names_row_and_statuses() -> None:
    with pytest.raises(IllegalTransition, match=r"'r1'.*completed -> pending") as caught:
        check_transition("r1", "completed", "pending")
    assert isinstance(caught.value, StateError)
    assert (caught.value.row_key, caught.value.old, caught.value.new) == ("r1", "completed", "pending")


def test_hold_refuses_orphan_resubmission() -> None:
    assert is_allowed("orphaned", "submitting")
    assert not is_allowed("orphaned", "submitting", hold_orphans=True)
    assert is_allowed("orphaned", "pending", hold_orphans=True)


def test_table_enforces_transitions(table: StateTable) -> None:
    with pytest.raises(IllegalTransition, match="row-000000"):
        table.transition("row-000000", "completed")
    assert table.get("row-000000").status == "pending"


def test_submitting_starts_a_clean_attempt(table: StateTable) -> None:
    table.transition("row-000000", "submitting")
    table.transition("row-000000", "queued", response_id="resp_1", sequence_number=3, attempts=1)
    table.transition("row-000000", "failed", error_type="server_error", error_message="boom")
    row = table.transition("row-000000", "submitting")
    assert row.attempts == 1  # the caller counts attempts: a refused create must not spend one
    assert row.response_id is None
    assert row.sequence_number is None
    assert row.error_type is None
    assert row.submitted_at is not None


def test_counters_never_decrease(table: StateTable) -> None:
    table.transition("row-000000", "submitting", attempts=1)
    with pytest.raises(StateError, match="attempts may not decrease"):
        table.update("row-000000", attempts=0)


def test_unknown_or_identity_fields_refused(table: StateTable) -> None:
    with pytest.raises(TypeError, match="row_index"):
        table.update("row-000000", row_index=5)
    with pytest.raises(TypeError, match="nonsense"):
        table.update("row-000000", nonsense=1)
