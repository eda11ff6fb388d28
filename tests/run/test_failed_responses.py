"""Responses that end `failed`: sent again when the fault is the server's, not when it is the row's own.

A trial's row whose prompt the content policy refused (`invalid_prompt`) was sent three times (each
create paid) to be refused three times alike. Such codes, and an image the server cannot take, now fail
the row alone as `input_refused`, not sent again by itself; a `server_error` is still retried within
--max-attempts. A failed response with `error: null` said only `response_failed`: it now says the server
gave no reason, and which response. The server's creates per row are held to what each row counted.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

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
            await run_table(new_table(tmp_path / "batch", len(ERRORS)), settings, prompts)
    frame = load(tmp_path / "batch").set_index("row_key")
    jobs = Counter(body["metadata"]["rowrelay_row"] for body in bodies)
    # A failed response retried is a known job that ended, no possible duplicate: so each row's jobs
    # equal its attempts exactly, none an orphan (the invariant's helper counts any second job as one).
    assert jobs == Counter(frame["attempts"].to_dict()), "each create counted once, on its row"
    assert (frame["orphans"] == 0).all(), "every create was answered"
    assert jobs == {"row-0000": 1, "row-0001": 1, "row-0002": ATTEMPTS, "row-0003": ATTEMPTS}
    assert (frame["status"] == "failed").all()
    assert frame["error_type"].to_dict() == {
        "row-0000": "input_refused",
        "row-0001": "input_refused",
        "row-0002": "response_failed",
        "row-0003": "response_failed",
    }
    assert frame.loc["row-0000", "error_code"] == "invalid_prompt"
    assert frame.loc["row-0000", "error_message"] == "Invalid prompt: flagged as potentially violating"
    said = str(frame.loc["row-0003", "error_message"])
    assert said.startswith("the server gave no reason: response resp_row-0003_"), said
    assert str(frame.loc["row-0003", "response_id"]) in said, "the response to ask about is the last one"
    assert (frame["input_tokens"] == 10).all(), "each row's latest answer's usage is kept"
