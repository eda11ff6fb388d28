"""Responses that end `failed`: sent again when the fault is the server's, not when it is the row's own.

A trial's row whose prompt the content policy refused (`invalid_prompt`) was sent three times (each
create paid) to be refused three times alike. Such codes, and an image the server cannot take, now fail
the row alone as `rejected` with the server's code, not sent again by itself; a `server_error` is still
retried within --max-attempts. A failed response with `error: null` said only `response_failed`: it now
says the server gave no reason, and which response. The server's creates per row are held to what each
row counted.

Older releases read the same state table (mixed versions, a rollback). Written as a type of its own
(`input_refused`), the refused row was one an older release sent twice more, paid: so the rows are held
to an older release's own decision too, and the run's closing line lists them apart from those a retry
would help.
"""

from __future__ import annotations

import io
import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from rowrelay.flows.batch_result import BatchResult
from rowrelay.flows.closing_advice import failed_for_their_input, not_completed_line
from rowrelay.flows.closing_summary import closing_summary
from rowrelay.tasks.llm.calls import Snapshot
from rowrelay.tasks.llm.failed_responses import failure_message
from rowrelay.tasks.state import load
from tests.support.canned import Canned, canned_server
from tests.support.runs import Address, new_table, run_table, settings_for

# Each row's failure: the `error` its every response ends with (None: `error: null`).
ERRORS: dict[str, dict[str, str] | None] = {
    "row-0000": {"code": "invalid_prompt", "message": "Invalid prompt: flagged as potentially violating"},
    "row-0001": {"code": "image_content_policy_violation", "message": "The image was refused."},
    "row-0002": {"code": "server_error", "message": "The server had an error."},
    "row-0003": None,
}
ATTEMPTS = 3

# What a release before 2026-12-06 sends again, verbatim: 1b3afb4's records.SENDABLE and NEVER_RESENT and
# run.plan._wants (its policy the three fields `_wants` reads), the decision an older rowrelay makes of
# each row of a table this one wrote.
SENDABLE = ("pending", "orphaned", "expired", "failed", "cancelled")
NEVER_RESENT = frozenset({"rejected", "bad_input", "refusal", "no_answer"})


@dataclass(frozen=True)
class _OlderPolicy:
    max_attempts: int
    orphan_policy: str = "resubmit"
    expired_policy: str = "resubmit"


def _older_release_wants(status: str, attempts: int, error_type: str | None, policy: _OlderPolicy) -> bool:
    if status not in SENDABLE:
        return False
    if status == "pending":
        return True
    if attempts >= policy.max_attempts:
        return False
    if status == "orphaned":
        return policy.orphan_policy == "resubmit"
    if status == "expired":
        return policy.expired_policy == "resubmit"
    if status == "cancelled":  # only the work a stopping run cut short; a cancel asked for stays
        return error_type == "interrupted"
    return error_type not in NEVER_RESENT  # failed


def _failed_response(body: dict[str, Any], number: int) -> dict[str, Any]:
    """A background response, already ended `failed` with its row's error, as the create's answer."""
    row = body["metadata"]["rowrelay_row"]
    return {
        "id": f"resp_{row}_{number}",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "failed",
        "background": True,
        "model": body["model"],
        "output": [],
        "error": ERRORS[row],
        "incomplete_details": None,
        "metadata": body["metadata"],
        "usage": {"input_tokens": 10, "output_tokens": 0, "total_tokens": 10},
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


async def test_a_failed_response_of_the_rows_own_fault_is_not_sent_again(tmp_path: Path) -> None:
    bodies: list[dict[str, Any]] = []
    numbers = itertools.count()

    def answer(body: dict[str, Any]) -> Canned:
        return Canned(_failed_response(body, next(numbers)))

    async with canned_server(answer, bodies) as url:
        # poll_streams=0: every create is a plain one, answered with the failed response whole
        settings = settings_for(Address(url), max_attempts=ATTEMPTS, poll_streams=0)
        for _ in range(2):  # the second run sends again only what another create may fix: nothing
            prompts = {key: f"Describe item {key}." for key in ERRORS}
            table = new_table(tmp_path / "batch", len(ERRORS))
            await run_table(table, settings, prompts)
    frame = load(tmp_path / "batch").set_index("row_key")
    jobs = Counter(body["metadata"]["rowrelay_row"] for body in bodies)
    # A failed response retried is a known job that ended, no possible duplicate: so each row's jobs
    # equal its attempts exactly, none an orphan (the invariant's helper counts any second job as one).
    assert jobs == Counter(frame["attempts"].to_dict()), "each create counted once, on its row"
    assert (frame["orphans"] == 0).all(), "every create was answered"
    assert jobs == {"row-0000": 1, "row-0001": 1, "row-0002": ATTEMPTS, "row-0003": ATTEMPTS}
    assert (frame["status"] == "failed").all()
    assert frame["error_type"].to_dict() == {
        "row-0000": "rejected",
        "row-0001": "rejected",
        "row-0002": "response_failed",
        "row-0003": "response_failed",
    }
    # the server's code tells them apart from a create refused with a 400, whose row holds none
    assert frame.loc["row-0000", "error_code"] == "invalid_prompt"
    assert frame.loc["row-0001", "error_code"] == "image_content_policy_violation"
    facts = frame[["status", "attempts", "error_type"]].to_dict("index")
    for key in ("row-0000", "row-0001"):
        row = facts[key]
        older = _older_release_wants(
            row["status"], row["attempts"], row["error_type"], _OlderPolicy(max_attempts=ATTEMPTS)
        )
        assert not older, f"an older release would send {key} again, paid, to be refused again"
    assert frame.loc["row-0000", "error_message"] == "Invalid prompt: flagged as potentially violating"
    said = str(frame.loc["row-0003", "error_message"])
    assert said.startswith("the server gave no reason: response resp_row-0003_"), said
    assert str(frame.loc["row-0003", "response_id"]) in said, "the response to ask about is the last one"
    # its last attempt is not sent again: its words say nothing of a resend, its note says it gave up
    assert "sent again" not in said, said
    assert frame.loc["row-0003", "note"] == f"gave up after {ATTEMPTS} attempts"
    assert (frame["input_tokens"] == 10).all(), "each row's latest answer's usage is kept"

    # the closing line: these two apart, their way on the input fixed; a retry for the other two alone
    latest = table.latest()
    assert failed_for_their_input(latest) == (0, 0, 2)
    said = not_completed_line("st", {"failed": 4}, *failed_for_their_input(latest))
    assert (
        "; 2 rows failed for their own input at the server (their response failed so: error_code "
        "invalid_prompt, or an image it cannot take; were sent, and paid for, and not sent again): fix them "
        "in the input and run with --resend-edited, which sends them again, paid for again (a retry sends "
        "them unchanged, to be refused and paid for again)"
    ) in said, said
    assert said.endswith("; `rowrelay retry st` makes the other 2 rows eligible again"), said


def test_the_closing_summary_lists_rows_refused_for_their_input_apart() -> None:
    said = io.StringIO()
    result = BatchResult(
        "b", "st", "out.jsonl", {"completed": 2, "failed": 1}, "openai", None, refused_for_input=1
    )
    assert closing_summary(Console(file=said, width=80), result) == 1
    line = " ".join(said.getvalue().split())
    assert line.endswith(
        "some rows did not complete: see `rowrelay status st`; 1 row failed for its own input at the server "
        "(its response failed so: error_code invalid_prompt, or an image it cannot take; was sent, and paid "
        "for, and not sent again): fix it in the input and run with --resend-edited, which sends it again, "
        "paid for again (a retry sends it unchanged, to be refused and paid for again)"
    ), line
    assert "eligible again" not in line


def test_a_failed_response_without_words_says_it_is_sent_again_only_while_attempts_are_left() -> None:
    silent = Snapshot("resp_1", "failed", None)
    assert "; sent again within --max-attempts; " in failure_message(silent, attempts_left=True)
    assert "sent again" not in failure_message(silent, attempts_left=False)
