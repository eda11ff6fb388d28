"""Continuation tokens shared both ways with Microsoft Agent Framework.

AF's continuation token for a background response is `{"response_id": ...}`: the very id the state table
keeps. So any row rowrelay submitted can be handed to an AF agent, and an AF run can be handed to
rowrelay, which then waits on it like any other row:

    token = continuation_token_for(table.get("row-0007"))
    answer = await agent.run(options=OpenAIChatOptions(continuation_token=token))

    adopt_token(table, "row-0008", answer.continuation_token)   # the next run polls it to the end
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.state import RowState, StateTable

if TYPE_CHECKING:  # Agent Framework is an optional extra; its token is a plain dict at run time
    from agent_framework_openai import OpenAIContinuationToken


def continuation_token_for(row_or_response_id: RowState | str) -> OpenAIContinuationToken:
    """The AF continuation token of a row (or response id) rowrelay submitted, whatever its backend."""
    if isinstance(row_or_response_id, str):
        response_id: str | None = row_or_response_id
    else:
        response_id = row_or_response_id.response_id
    if not response_id:
        raise UsageError("this row holds no response id: it was never accepted by the server")
    return cast("OpenAIContinuationToken", {"response_id": response_id})


def adopt_token(table: StateTable, row_key: str, token: Mapping[str, Any]) -> RowState:
    """Make a row wait on a response an AF agent started (its `continuation_token`); durable on return.

    The row becomes `queued` with that response id, so the next run polls (or streams) it to the end
    instead of creating a new one. AF tokens carry no stream cursor: a stream starts from the beginning.
    """
    response_id = token.get("response_id")
    if not isinstance(response_id, str) or not response_id:
        raise UsageError(f"not an Agent Framework continuation token: {dict(token)!r}")
    row = table.get(row_key)
    if row.response_id == response_id and row.status in HOLDING_TOKEN:
        return row
    if row.status in HOLDING_TOKEN:
        raise UsageError(f"row {row_key!r} already waits on {row.response_id}; cancel it first")
    if row.status != "submitting":
        table.transition(row_key, "submitting")
    adopted = table.transition(
        row_key,
        "queued",
        response_id=response_id,
        sequence_number=None,
        attempts=row.attempts + 1,
        submitted_at=datetime.now(UTC),
        note="adopted an Agent Framework continuation token",
    )
    table.flush()
    return adopted
