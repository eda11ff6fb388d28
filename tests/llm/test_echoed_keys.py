"""A key a server repeats back is masked in everything rowrelay makes of the server's words.

A server that refuses a key may quote it (OpenAI's 401: `Incorrect API key provided: sk-...`), and so may
a 403, a 429 for a spent quota, a row's 400, a web page in the way or an echo server's JSON. Each case
is a real exchange with a server that quotes the credential header it got (tests/support/key_echo.py),
through the backends as a run builds them (`make_backend`), on both transports, for OpenAI's bearer key
and Azure's `api-key` alike. The raised error still says what the server said, the key masked, and so
does every exception down its chain, which a logged traceback prints after it.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rowrelay.tasks.llm import RowRequest, in_background
from rowrelay.tasks.llm.calls import Backend
from rowrelay.tasks.llm.client import make_backend
from rowrelay.tasks.llm.masking import MASK, masked
from rowrelay.tasks.settings import Settings
from tests.support.key_echo import ANSWERS, FRAGMENT, SAYS, SECRET, key_echo_server
from tests.support.leaks import every_log_record

REQUEST = RowRequest(row_key="row-1", prompt="hi", instructions=None, model="gpt-4.1-mini", metadata={})


def settings(url: str, backend: str, transport: str) -> Settings:
    if backend == "azure":
        where: dict[str, Any] = {"azure_endpoint": url.removesuffix("/v1"), "azure_api_key": SECRET}
    else:
        where = {"base_url": url, "api_key": SECRET}
    return Settings(backend=backend, model="gpt-4.1-mini", transport=transport, transport_retries=0, **where)


async def _drained(updates: AsyncIterator[Any]) -> None:
    async for _ in updates:
        pass


async def failure_of(backend: Backend, *, stream: bool) -> BaseException:
    """What the backend raises for one create (streamed, if asked) against the echoing server."""
    background = in_background(backend)
    try:
        if stream:
            assert background is not None
            await _drained(background.create_stream(REQUEST))
        else:
            await backend.create(REQUEST)
    except Exception as exc:
        return exc
    finally:
        await backend.aclose()
    raise AssertionError("the create succeeded")


def assert_masked(error: BaseException, answer: str) -> None:
    said = str(error)
    assert SAYS[answer] in said, said  # the server's words are still told
    assert MASK in said, said
    printed = "".join(traceback.format_exception(error))  # with every exception down its chain
    assert FRAGMENT not in printed, printed


CREATES = [
    (answer, stream) for answer in sorted(ANSWERS) for stream in (False, True) if stream or answer != "event"
]
"""Each answer to a plain and a streamed create; a stream's `error` event answers a streamed one only."""


@pytest.mark.parametrize(("answer", "stream"), CREATES)
@pytest.mark.parametrize("backend", ["openai", "azure"])
@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_a_responses_create_never_repeats_the_key(
    answer: str, stream: bool, backend: str, transport: str
) -> None:
    with key_echo_server(answer) as url, every_log_record() as logged:
        error = await failure_of(make_backend(settings(url, backend, transport)), stream=stream)
    assert_masked(error, answer)
    assert [line for line in logged if FRAGMENT in line] == []


@pytest.mark.parametrize("answer", sorted(set(ANSWERS) - {"event"}))
async def test_a_chat_completions_create_never_repeats_the_key(answer: str) -> None:
    with key_echo_server(answer) as url, every_log_record() as logged:
        error = await failure_of(make_backend(settings(url, "chat", "sdk")), stream=False)
    assert_masked(error, answer)
    assert [line for line in logged if FRAGMENT in line] == []


@pytest.mark.parametrize("answer", ["401", "403", "400", "quota"])
async def test_an_agents_create_never_repeats_the_key(answer: str) -> None:
    """Agent Framework wraps the SDK's exception in its own, which repeats its words: both are masked."""
    with key_echo_server(answer) as url, every_log_record() as logged:
        error = await failure_of(make_backend(settings(url, "agent", "sdk")), stream=False)
    assert_masked(error, answer)
    assert [line for line in logged if FRAGMENT in line] == []


def test_every_run_of_eight_characters_of_a_key_is_masked_and_nothing_else() -> None:
    key = "sk-proj-" + "a1b2c3d4e5f6g7h8i9j0"
    assert masked(f"key {key} refused", [key]) == f"key {MASK} refused"
    assert masked(f"key {key[:12]}****{key[-4:]} refused", [key]) == f"key {MASK}****{key[-4:]} refused"
    assert masked(f"{key[3:11]} and {key[10:20]}.", [key]) == f"{MASK} and {MASK}."
    assert masked("the server's own words, and rowrelay's", [key]) == "the server's own words, and rowrelay's"
    assert masked(f"short {key[:7]}", [key]) == f"short {key[:7]}"  # 7 characters of a key tell nothing
