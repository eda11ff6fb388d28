"""Small shared vocabulary: row statuses and the closed sets the layers agree on."""

from __future__ import annotations

from typing import Literal, get_args

RowStatus = Literal[
    "pending",  # planned, never sent
    "submitting",  # durably marked before its create is sent (write-ahead)
    "queued",  # the server holds it: response_id known, not started
    "in_progress",  # the server is working on it
    "completed",  # output and usage recorded; never sent again
    "failed",  # ended with an error (server, client or attempts exhausted)
    "incomplete",  # ended early (e.g. max_output_tokens); output kept
    "cancelled",  # cancelled on request (ours or the server's)
    "expired",  # the server no longer holds its response (404 on the token)
    "orphaned",  # was `submitting` at a crash: its create may or may not have reached the server
]
ROW_STATUSES: tuple[RowStatus, ...] = get_args(RowStatus)
IN_FLIGHT: frozenset[RowStatus] = frozenset({"queued", "in_progress"})
"""Rows holding a continuation token that the server may still be working on."""
FINAL: frozenset[RowStatus] = frozenset({"completed", "failed", "incomplete", "cancelled"})
"""Statuses a run leaves alone; `rowrelay retry` makes failed/incomplete/cancelled eligible again."""

WaitMode = Literal["poll", "stream"]
