"""What a response that ended `failed` means for its row: the server's fault, which another create may
not meet (sent again within --max-attempts), or the row's own, which every create meets alike.

A response the API ends `failed` names why in `error.code` (`ResponseErrorCode` in OpenAI's OpenAPI
spec). `invalid_prompt` (a prompt refused by the content policy), `bio_policy`, and the codes of an image
the server cannot take (bad format, too large, refused by its content policy) fail the same way on every
create of that row, and each is paid for: sent again, one trial's row was paid three times for one
refusal. `data_residency_mismatch` (the project's settings) meets every create too. Such a row fails
`rejected` with the server's code (`error_code` invalid_prompt, ...), which a run does not send again by
itself (`records.NEVER_RESENT`); `rowrelay retry` still does. `server_error`, `rate_limit_exceeded`,
`vector_store_timeout`, `failed_to_download_image` (a host that may answer next time) and codes the API
may add later are the server's: retried as before.

Why `rejected` and no type of its own: older releases read the same state table (a team on mixed versions,
a rollback), and each sends again a failed row whose error type it does not know. A type of its own
(`input_refused`, for an hour of 2026-12-06) had an older release send the refused row twice more, paid,
and write it back as `response_failed`. Every release has left `rejected` rows alone; the server's code
tells these apart from a create refused with a 400 or 422, whose rows hold none (`refused_for_input`).
"""

from __future__ import annotations

from rowrelay.tasks.llm.calls import Snapshot
from rowrelay.tasks.records import ErrorType

INPUT_REFUSED_CODES: frozenset[str] = frozenset(
    {
        "invalid_prompt",
        "bio_policy",
        "data_residency_mismatch",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "image_file_not_found",
    }
)
"""The `ResponseErrorCode`s another create of the same row would meet again: the row's own fault."""


REFUSED_FOR_INPUT: ErrorType = "rejected"
"""The error type of a row whose response failed for its own input: one every release never resends."""


def refused_for_input(error_type: str | None, error_code: str | None) -> bool:
    """Whether a row's error says its response failed for the row's own input (paid for, and sent again
    only once the input is fixed), rather than a create refused before any job (`rejected`, no code)."""
    return error_type == REFUSED_FOR_INPUT and error_code in INPUT_REFUSED_CODES


def failure_kind(snapshot: Snapshot) -> ErrorType:
    """The row's error type for a failed response: the answer's own when it names one (`no_answer`),
    `REFUSED_FOR_INPUT` for a code of the row's own fault, else `response_failed` (sent again)."""
    if snapshot.error_type is not None:
        return snapshot.error_type
    return REFUSED_FOR_INPUT if snapshot.error_code in INPUT_REFUSED_CODES else "response_failed"


def failure_message(snapshot: Snapshot, *, attempts_left: bool) -> str:
    """The row's error message: the server's words, or, when it gave none (`error: null`), that it gave
    no reason and which response to ask about (a bare `response_failed` told the user nothing), and
    whether the row is sent again (only while it has attempts left: its last one's row is not)."""
    if snapshot.error_message:
        return snapshot.error_message
    which = f"response {snapshot.response_id}" if snapshot.response_id else "the response"
    code = f" (code {snapshot.error_code})" if snapshot.error_code else ""
    resent = attempts_left and failure_kind(snapshot) == "response_failed"
    again = "sent again within --max-attempts; " if resent else ""
    return (
        f"the server gave no reason: {which} ended failed with no error message{code}; {again}"
        "ask the server's logs (or its support) about that id"
    )
