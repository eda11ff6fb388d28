"""What went wrong, by kind: the rows that ended without completing, grouped by status and error type,
largest first, one example message each; rows still waiting are no failure."""

from __future__ import annotations

import pyarrow as pa

from rowrelay.tasks.state.failures import KINDS_SAID, MESSAGE_CHARS, failure_kinds, kinds_said


def _rows(*rows: tuple[str, str | None, str | None]) -> pa.Table:
    status, error_type, message = zip(*rows, strict=True)
    return pa.table({"status": list(status), "error_type": list(error_type), "error_message": list(message)})


def test_rows_that_did_not_complete_are_grouped_by_kind_largest_first_with_one_example() -> None:
    table = _rows(
        ("completed", None, None),
        ("failed", "response_failed", None),
        ("failed", "response_failed", ""),
        ("failed", "response_failed", "The server had\nan error"),
        ("failed", "internal", "KeyError: 'x'"),
        ("orphaned", "maybe_created", "server error (502) from a gateway"),
        ("orphaned", "maybe_created", "the request timed out"),
        ("incomplete", None, None),
        ("pending", None, None),  # waiting to be sent, or on its response: nothing went wrong yet
        ("queued", None, None),
        ("in_progress", None, None),
    )
    kinds = failure_kinds(table)
    assert [(k["status"], k["error_type"], k["rows"]) for k in kinds] == [
        ("failed", "response_failed", 3),
        ("orphaned", "maybe_created", 2),
        ("failed", "internal", 1),
        ("incomplete", None, 1),
    ]
    assert kinds[0]["example"] == "The server had an error"  # the first non-empty one, on one line
    assert kinds_said(kinds) == (
        '3 failed/response_failed (e.g. "The server had an error"); '
        '2 orphaned/maybe_created (e.g. "server error (502) from a gateway"); '
        "1 failed/internal (e.g. \"KeyError: 'x'\"); 1 incomplete/-"
    )


def test_a_batch_with_nothing_wrong_has_no_kinds() -> None:
    assert failure_kinds(_rows(("completed", None, None), ("pending", None, None))) == []
    assert kinds_said([]) == ""


def test_many_kinds_are_said_up_to_a_few_and_long_messages_are_cut() -> None:
    many = [("failed", f"type_{i}", "x" * 1000) for i in range(KINDS_SAID + 3)]
    kinds = failure_kinds(_rows(*many))
    assert all(len(kind["example"] or "") == MESSAGE_CHARS for kind in kinds)
    assert kinds_said(kinds).endswith("; and 3 more kinds")
    assert kinds_said(kinds).count("failed/type_") == KINDS_SAID
