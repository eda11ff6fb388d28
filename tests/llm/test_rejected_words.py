"""A row refused (400, 422) by a server whose body has no `error.message` keeps the server's words.

FastAPI and other web frameworks answer `{"detail": "..."}`, or a validation error's list; a bare server
may answer plain text. The SDK's exception text names only the status for them (`Error code: 400`), and
a row was recorded as `request rejected (400): Error code: 400`, the reason lost. Each case is a real
exchange over a socket, through the SDK, on both transports of the Responses backend and on Chat
Completions: all must say the same."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import openai
import pytest

from rowrelay.tasks.llm.calls import RequestRejectedError, RowRequest
from rowrelay.tasks.llm.chat_backend import ChatBackend
from rowrelay.tasks.llm.masking import MASK
from rowrelay.tasks.llm.responses_backend import ResponsesBackend
from tests.support.canned import Canned, canned_server

KEY = "sk-proj-canned-0123456789abcdef"
REQUEST = RowRequest(
    row_key="row-1", prompt="hi", instructions=None, model="gpt-4.1-mini", metadata={"rowrelay_row": "row-1"}
)
VALIDATION = {
    "detail": [
        {"loc": ["body", "input"], "msg": "field required", "type": "missing"},
        {"loc": ["body", "model"], "msg": "unknown model", "type": "value_error"},
    ]
}
# (case, answer, what the row's error says after `request rejected (STATUS): `)
CASES = [
    ("detail", Canned({"detail": "input too long", "status": 400}, 400), "input too long"),
    ("fastapi-validation", Canned(VALIDATION, 422), "body.input: field required; body.model: unknown model"),
    ("other-json", Canned({"reason": "too long"}, 400), "{'reason': 'too long'}"),
    ("error-string", Canned({"error": "input too long"}, 400), "input too long"),
    ("plain-text", Canned(b"input too long\n", 400, "text/plain"), "input too long"),
    (
        "envelope",
        Canned({"error": {"message": "bad input", "type": "invalid_request_error"}}, 400),
        "bad input",
    ),
]


@contextlib.asynccontextmanager
async def backend_at(url: str, kind: str) -> AsyncIterator[ResponsesBackend | ChatBackend]:
    client = openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=30.0)
    backend = (
        ChatBackend("chat", client)
        if kind == "chat"
        else ResponsesBackend("openai", client, client, None, transport="lean" if kind == "lean" else "sdk")
    )
    try:
        yield backend
    finally:
        await backend.aclose()


async def _rejection(url: str, kind: str) -> RequestRejectedError:
    async with backend_at(url, kind) as backend:
        with pytest.raises(RequestRejectedError) as caught:
            await backend.create(REQUEST)
    return caught.value


@pytest.mark.parametrize("kind", ["sdk", "lean", "chat"])
@pytest.mark.parametrize(("answer", "says"), [pytest.param(a, s, id=case) for case, a, s in CASES])
async def test_a_rejected_row_says_the_servers_words_whatever_the_shape(
    kind: str, answer: Canned, says: str
) -> None:
    async with canned_server(lambda _: answer) as url:
        rejected = await _rejection(url, kind)
    assert str(rejected) == f"request rejected ({answer.status}): {says}"


@pytest.mark.parametrize("kind", ["sdk", "lean", "chat"])
async def test_the_quoted_body_is_masked_of_the_key_and_cut_short(kind: str) -> None:
    """A server that repeats the request's key in its `detail`: the words are the server's, masked as any
    are. A body of another shape is quoted only in part."""
    long_body = {"trace": "x" * 1000, "auth": f"Bearer {KEY}"}
    async with canned_server(lambda _: Canned({"detail": f"bad key {KEY} for this input"}, 400)) as url:
        rejected = await _rejection(url, kind)
    assert str(rejected) == f"request rejected (400): bad key {MASK} for this input"
    async with canned_server(lambda _: Canned(long_body, 400)) as url:
        rejected = await _rejection(url, kind)
    assert KEY[:12] not in str(rejected)
    assert str(rejected).endswith("...")
    assert len(str(rejected)) < 400
