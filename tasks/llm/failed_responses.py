"""What a response that ended `failed` means for its row: the server's fault, which another create may
not meet (sent again within --max-attempts), or the row's own, which every create meets alike.

A response the API ends `failed` names why in `error.code` (`ResponseErrorCode` in OpenAI's OpenAPI
spec). `invalid_prompt` (a prompt refused by the content policy), `bio_policy`, and the codes of an image
the server cannot take (bad format, too large, refused by its content policy) fail the same way on every
create of that row, and each is paid for: sent again, one trial's row was paid three times for one
refusal. `data_residency_mismatch` (the project's settings) meets every create too. They are
`input_refused`, which a run does not send again by itself (`records.NEVER_RESENT`); `rowrelay retry`
still does. `server_error`, `rate_limit_exceeded`, `vector_store_timeout`, `failed_to_download_image` (a
host that may answer next time) and codes the API may add later are the server's: retried as before.
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


def failure_kind(snapshot: Snapshot) -> ErrorType:
    """The row's error type for a failed response: the answer's own when it names one (`no_answer`),
    `input_refused` for a code of the row's own fault, else `response_failed` (sent again)."""
    if snapshot.error_type is not None:
        return snapshot.error_type
    return "input_refused" if snapshot.error_code in INPUT_REFUSED_CODES else "response_failed"


def failure_message(snapshot: Snapshot) -> str:
    """The row's error message: the server's words, or, when it gave none (`error: null`), that it gave
    no reason and which response to ask about (a bare `response_failed` told the user nothing)."""
    if snapshot.error_message:
        return snapshot.error_message
    which = f"response {snapshot.response_id}" if snapshot.response_id else "the response"
    code = f" (code {snapshot.error_code})" if snapshot.error_code else ""
    again = "sent again within --max-attempts; " if failure_kind(snapshot) == "response_failed" else ""
    return (
        f"the server gave no reason: {which} ended failed with no error message{code}; {again}"
        "ask the server's logs (or its support) about that id"
    )
