"""A Microsoft Entra token a response quotes in its own words about its end is masked, as a key is.

210f6bf masked a failed response's words (`error.message`, its code, an incomplete reason) of the keys in
its clients' `auth_headers`, read once as the backend was built. Azure signed in with Entra ID
(`AsyncAzureOpenAI(azure_ad_token_provider=...)`) has none there, `{}`: the SDK, and the lean transport,
put the token on each request. So a server quoting the `Authorization` it got kept the token in the state
table's `error_message`, the output's `error` column and the logs. Here a proxy in front of the
emulator's Azure routes ends rows' responses in words quoting the bearer it got, for a run signed in with
rowrelay's own Entra tokens (the one thing faked is azure-identity's credential, out of reach here) and
for a backend on a caller's own token provider. Each row's jobs on the server are its attempts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import openai
import pytest
from azure.core.credentials import AccessToken

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.llm import RowRequest, entra
from rowrelay.tasks.llm.entra import EntraTokens
from rowrelay.tasks.llm.masking import MASK, ClientKeys
from rowrelay.tasks.llm.responses_backend import ResponsesBackend, Transport
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.leaks import every_log_record, files_holding
from tests.support.rewriting_proxy import rewriting
from tests.support.runs import new_table, prompts, run_table

ROWS = 3
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-token-SECRET-0123456789"
FRAGMENT = TOKEN[-20:]
"""What no file or log record may hold: a part of the token past the JWT header every token shares."""


class Identity:
    """What azure-identity's credential answers: `TOKEN`, good for an hour."""

    def credential(self, authority: str | None = None) -> Identity:
        return self

    async def __aenter__(self) -> Identity:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        return None

    async def get_token(self, *scopes: str, **options: Any) -> AccessToken:
        return AccessToken(TOKEN, int(time.time()) + 3600)


def _ended_quoting_the_bearer(response: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    """row-0000 failed, its message quoting the bearer; row-0001 incomplete, its reason quoting it;
    row-0002 as the emulator answered."""
    row = (response.get("metadata") or {}).get("rowrelay_row")
    if response.get("status") != "completed" or row == "row-0002":
        return response
    bearer = headers.get("Authorization", "")
    if row == "row-0001":
        return {**response, "status": "incomplete", "incomplete_details": {"reason": f"cut for {bearer}"}}
    error = {"code": "server_error", "message": f"The model crashed for {bearer}"}
    return {**response, "status": "failed", "output": [], "error": error}


@pytest.mark.parametrize(("mode", "transport"), [("poll", "lean"), ("poll", "sdk"), ("stream", "lean")])
async def test_an_entra_token_quoted_by_a_response_is_masked(
    mode: str, transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entra, "default_credential", Identity().credential)
    with running_emulator(EmulatorConfig(api_key=TOKEN)) as emu:  # its Azure routes take the bearer
        async with rewriting(emu.url, _ended_quoting_the_bearer) as url:
            settings = Settings(
                backend="azure", azure_endpoint=url.removesuffix("/v1"), azure_auth="entra",
                model="my-deployment", mode=mode, transport=transport, max_attempts=1,
                checkpoint_interval=0.05,
            )  # fmt: skip
            with every_log_record() as logged:
                report = await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "state").set_index("row_key")
    assert report.counts == {"failed": 1, "incomplete": 1, "completed": 1}, frame[["status", "error_message"]]
    assert started == Counter(dict.fromkeys(frame.index, 1)) == Counter(frame["attempts"].to_dict())
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)
    assert frame.loc["row-0000", "error_message"] == f"The model crashed for Bearer {MASK}"
    assert frame.loc["row-0001", "error_message"] == f"incomplete: cut for Bearer {MASK}"
    assert files_holding(tmp_path, FRAGMENT) == []
    assert [line for line in logged if FRAGMENT in line] == []


def _failed_quoting_the_bearer(response: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    error = {"code": "server_error", "message": f"Refused for {headers.get('Authorization', '')}"}
    return {**response, "status": "failed", "output": [], "error": error}


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_a_token_of_a_callers_own_provider_is_masked(transport: Transport) -> None:
    """A backend on clients whose token provider is not rowrelay's (an agent's own client, a caller's
    script): the token its request carried is masked from the create's answer and a poll's."""

    async def token() -> str:
        return TOKEN

    with running_emulator(EmulatorConfig(api_key=TOKEN)) as emu:
        async with rewriting(emu.url, _failed_quoting_the_bearer) as url:

            def client() -> openai.AsyncAzureOpenAI:
                return openai.AsyncAzureOpenAI(
                    azure_endpoint=url.removesuffix("/v1"), api_version="2025-04-01-preview",
                    azure_ad_token_provider=token, max_retries=0,
                )  # fmt: skip

            backend = ResponsesBackend("azure", client(), client(), transport=transport)
            try:
                request = RowRequest("row-0000", "hi", None, "my-deployment", {"rowrelay_row": "row-0000"})
                created = await backend.create(request)
                assert created.response_id is not None
                polled = await backend.retrieve(created.response_id)
            finally:
                await backend.aclose()
        started, _ = jobs_of(emu.url)
    assert started == Counter({"row-0000": 1})
    assert created.error_message == polled.error_message == f"Refused for Bearer {MASK}"


async def test_a_token_replaced_by_a_refresh_is_still_masked() -> None:
    """A request that left just before the token was refreshed carried the one before: rowrelay's own
    Entra tokens keep both for masking."""
    clock = [1_800_000_000.0]
    answers = iter(["eyJ.first-token-0123456789", "eyJ.second-token-0123456789"])

    class Refreshing(Identity):
        async def get_token(self, *scopes: str, **options: Any) -> AccessToken:
            return AccessToken(next(answers), int(clock[0]) + 3600)

    credential: Callable[[], Any] = Refreshing().credential
    tokens = EntraTokens(credential, clock=lambda: clock[0])
    client = openai.AsyncAzureOpenAI(
        azure_endpoint="http://127.0.0.1:9", api_version="2025-04-01-preview", azure_ad_token_provider=tokens
    )
    assert await tokens() == "eyJ.first-token-0123456789"
    clock[0] += 3600
    assert await tokens() == "eyJ.second-token-0123456789"
    assert set(await ClientKeys(client).secrets()) == {
        "eyJ.first-token-0123456789",
        "eyJ.second-token-0123456789",
    }
    await client.close()
