"""Azure OpenAI with Microsoft Entra ID (`azure_auth="entra"`, tasks/llm/entra.py): the token goes as a bearer
on every call of both transports, is fetched once and again ahead of its expiry, outlives a failed refresh
while it is good, and a run that can get none stops before it sends anything.

Entra ID itself is out of reach here, so the one thing faked is azure-identity's credential (what
`DefaultAzureCredential` would answer); the clock is the fake one for everything timed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.emulator.replies import AZURE_ACCESS_DENIED
from rowrelay.tasks.errors import ResponseGoneError
from rowrelay.tasks.llm import BackendRefusedError, RowRequest, entra, make_backend
from rowrelay.tasks.llm.credentials import credentials_problem
from rowrelay.tasks.llm.entra import REFRESH_AHEAD, RETRY_AFTER, SCOPE, SOVEREIGN_CLOUDS, EntraTokens
from rowrelay.tasks.llm.responses_backend import ResponsesBackend
from rowrelay.tasks.run import RunReport, open_session
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import load
from tests.support.runs import new_table, prompts
from tests.support.scripted_replies import error, serving

HOUR = 3600.0
REQUEST = RowRequest("row-1", "hi", None, "my-deployment", {"rowrelay_row": "row-1"})


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Identity:
    """What azure-identity's credential answers: each token in turn (an exception is raised instead),
    each `lifetime` seconds long from the clock's time; every credential opened is closed after use."""

    def __init__(self, clock: Clock, *answers: str | Exception, lifetime: float = HOUR) -> None:
        self.clock, self.answers, self.lifetime = clock, list(answers), lifetime
        self.fetches, self.opened, self.closed = 0, 0, 0
        self.scopes: list[tuple[str, ...]] = []
        self.authorities: list[str | None] = []

    def credential(self, authority: str | None = None) -> Identity:
        self.opened += 1
        self.authorities.append(authority)
        return self

    async def __aenter__(self) -> Identity:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        self.closed += 1

    async def get_token(self, *scopes: str, **options: Any) -> AccessToken:
        self.fetches += 1
        self.scopes.append(scopes)
        await asyncio.sleep(0)  # a fetch takes a while: callers arriving meanwhile must wait for it
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return AccessToken(answer, int(self.clock.now + self.lifetime))


async def run_on_azure(directory: Path, endpoint: str, rows: int, **overrides: Any) -> RunReport:
    """A batch of `rows` on the Azure endpoint (a URL ending in /v1: its root), signing in with Entra ID."""
    table = new_table(directory, rows)
    session = open_session(azure_settings(endpoint.removesuffix("/v1"), **overrides), table, prompts(rows))
    try:
        return await session.runner.run()
    finally:
        await session.aclose()
        table.close()


def tokens(identity: Identity) -> EntraTokens:
    factory: Callable[[], Any] = identity.credential
    return EntraTokens(factory, clock=identity.clock)


def azure_settings(endpoint: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "backend": "azure", "azure_endpoint": endpoint, "azure_auth": "entra", "model": "my-deployment",
        "rpm": 60_000, "tpm": 100_000_000, "poll_rpm": 60_000, "max_in_flight": 10,
        "checkpoint_interval": 0.05,
    }  # fmt: skip
    values.update(overrides)
    return Settings(**values)


async def test_one_fetch_serves_every_caller_until_the_token_is_nearly_out() -> None:
    clock = Clock()
    identity = Identity(clock, "first", "second")
    source = tokens(identity)
    assert await asyncio.gather(*(source() for _ in range(50))) == ["first"] * 50
    assert (identity.fetches, identity.scopes) == (1, [(SCOPE,)])
    clock.now += HOUR - REFRESH_AHEAD - 1
    assert await source() == "first"
    clock.now += 1  # REFRESH_AHEAD before it expires: a call now must not carry it
    assert await asyncio.gather(*(source() for _ in range(50))) == ["second"] * 50
    assert identity.fetches == 2
    assert identity.opened == identity.closed == 2, "a credential is closed after each fetch"


async def test_a_short_lived_token_is_fetched_again_half_way_through_its_life() -> None:
    clock = Clock()
    identity = Identity(clock, "short", "next", lifetime=REFRESH_AHEAD)
    source = tokens(identity)
    assert await source() == "short"
    clock.now += REFRESH_AHEAD / 2 - 1
    assert await source() == "short"
    clock.now += 1
    assert await source() == "next"


async def test_a_failed_refresh_keeps_the_good_token_and_tries_again_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    down = ClientAuthenticationError("the identity endpoint did not answer")
    identity = Identity(clock, "first", down, down, "second")
    source = tokens(identity)
    assert await source() == "first"
    clock.now += HOUR - REFRESH_AHEAD
    with caplog.at_level(logging.WARNING, logger=entra.__name__):
        assert await asyncio.gather(*(source() for _ in range(20))) == ["first"] * 20
        assert identity.fetches == 2, "one try for all the callers"
        clock.now += RETRY_AFTER - 1
        assert await source() == "first"
        assert identity.fetches == 2, "no try before RETRY_AFTER"
        clock.now += 1
        assert await source() == "first"  # failed again, still good
    assert identity.fetches == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "could not refresh the Microsoft Entra ID token (the identity endpoint did not answer): the current "
        f"one is good for {REFRESH_AHEAD:.0f} s more; trying again every {RETRY_AFTER:.0f} s"
    ]
    clock.now += RETRY_AFTER
    assert await source() == "second"


async def test_no_token_at_all_stops_with_the_first_line_of_why_and_how_to_sign_in() -> None:
    clock = Clock()
    why = ClientAuthenticationError(
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n\tEnvironmentCredential: EnvironmentCredential authentication unavailable."
    )
    identity = Identity(clock, "first", why, why)
    source = tokens(identity)
    await source()
    clock.now += HOUR  # expired: nothing good to keep
    with pytest.raises(BackendRefusedError) as refused:
        await source()
    assert str(refused.value) == (
        "Microsoft Entra ID gave no token for Azure OpenAI (DefaultAzureCredential failed to retrieve a "
        f"token from the included credentials.): {entra.SIGN_IN}"
    )
    with pytest.raises(BackendRefusedError):
        await tokens(Identity(clock, why))()  # and with none ever fetched


@pytest.mark.parametrize(
    ("endpoint", "scope", "authority"),
    [
        ("https://res.openai.azure.com", SCOPE, None),
        ("https://res.cognitiveservices.azure.com/", SCOPE, None),
        ("https://res.openai.azure.us", *SOVEREIGN_CLOUDS[".azure.us"]),
        ("https://RES.OPENAI.AZURE.CN/", *SOVEREIGN_CLOUDS[".azure.cn"]),
    ],
)
async def test_an_endpoint_in_a_sovereign_cloud_asks_that_clouds_authority_for_its_scope(
    endpoint: str, scope: str, authority: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the public cloud's scope, Azure Government and Azure China refuse the token (or never issue
    it): the endpoint's domain decides both, for the client a run builds."""
    identity = Identity(Clock(), "token")
    monkeypatch.setattr(entra, "default_credential", identity.credential)
    backend = make_backend(azure_settings(endpoint))
    try:
        assert isinstance(backend, ResponsesBackend)
        # The SDK client's own way to its token provider (what it calls before each request).
        assert await backend._creates._get_azure_ad_token() == "token"  # type: ignore[attr-defined]
    finally:
        await backend.aclose()
    assert (identity.scopes, identity.authorities) == ([(scope,)], [authority])
    assert scope.startswith("https://cognitiveservices.azure.")


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_every_call_carries_the_token_as_a_bearer_and_no_key(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both clients (creates, reads) of both transports share the run's one token; Azure's path and
    `api-version` are the SDK client's, as with a key."""
    identity = Identity(Clock(), "entra-token")
    monkeypatch.setattr(entra, "default_credential", identity.credential)
    heads: list[bytes] = []
    async with serving(error(404), heads) as url:
        backend = make_backend(azure_settings(url.removesuffix("/v1"), transport=transport))
        try:
            assert isinstance(backend, ResponsesBackend)
            for call, answered in (
                (backend.create(REQUEST), BackendRefusedError),  # the server's 404, not a sign-in failure
                (backend.retrieve("resp_1"), ResponseGoneError),
                (anext(backend.create_stream(REQUEST)), BackendRefusedError),
                (anext(backend.resume("resp_1", 3)), ResponseGoneError),
            ):
                with pytest.raises(answered, match=r"\(404\)"):
                    await call
        finally:
            await backend.aclose()
    assert len(heads) == 4
    for head in heads:
        first, *fields = head.lower().split(b"\r\n")
        assert first.startswith((b"post /openai/responses?", b"get /openai/responses/resp_1?")), first
        assert b"api-version=" in first
        assert b"authorization: bearer entra-token" in fields
        assert not any(field.startswith(b"api-key:") for field in fields)
    assert identity.fetches == 1


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_batch_signed_in_with_entra_id_completes_on_the_azure_routes(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole run, on the emulator's Azure routes, which take the bearer only if it is the token
    (the emulator's key here): every row completes, on one token fetch."""
    identity = Identity(Clock(), "entra-token")
    monkeypatch.setattr(entra, "default_credential", identity.credential)
    config = EmulatorConfig(api_key="entra-token", latency=LatencySpec.parse("fixed:0.1"))
    with running_emulator(config) as emu:
        report = await run_on_azure(tmp_path / "batch", emu.url, 6, mode=mode)
        routes = emu.emulator.stats()["routes"]
    assert report.counts == {"completed": 6}
    assert routes["POST /openai/responses"] == 6
    assert identity.fetches == 1


async def test_a_token_azure_refuses_stops_the_run_saying_what_the_identity_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Azure's 401 for a token it was given (the identity has no role on the resource yet): the run stops
    at its first create with Azure's words and what to check, and nothing started."""
    identity = Identity(Clock(), "a-token-without-a-role")
    monkeypatch.setattr(entra, "default_credential", identity.credential)
    with running_emulator(EmulatorConfig(api_key="the-token-azure-takes")) as emu:
        with pytest.raises(BackendRefusedError) as refused:
            await run_on_azure(tmp_path / "batch", emu.url, 4)
        assert emu.emulator.jobs_listing() == []
    assert str(refused.value) == (
        f"the server refused our credentials: {AZURE_ACCESS_DENIED} ({entra.ROLE_NEEDED})"
    )
    assert set(load(tmp_path / "batch")["status"]) <= {"pending", "orphaned"}


async def test_a_run_that_gets_no_token_stops_before_sending_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = Identity(Clock(), *[ClientAuthenticationError("not signed in")] * 20)
    monkeypatch.setattr(entra, "default_credential", identity.credential)
    heads: list[bytes] = []
    async with serving(error(500), heads) as url:
        with pytest.raises(BackendRefusedError, match=r"^Microsoft Entra ID gave no token .*az login"):
            await run_on_azure(tmp_path / "batch", url, 6)
    assert heads == [], "nothing reached the server"
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) == {"pending"}
    assert frame["attempts"].tolist() == [0] * 6


def test_entra_needs_only_the_endpoint_and_says_so_when_it_is_missing() -> None:
    endpoint = "https://example.openai.azure.com"
    assert credentials_problem(azure_settings(endpoint), "azure") is None
    assert credentials_problem(azure_settings(endpoint, azure_api_key="k"), "azure") is None
    assert credentials_problem(Settings(backend="azure", azure_auth="entra"), "azure") == (
        "the azure backend needs AZURE_OPENAI_ENDPOINT (not set)"
    )
    assert credentials_problem(Settings(backend="azure", azure_endpoint=endpoint), "azure") == (
        "the azure backend needs AZURE_OPENAI_API_KEY (not set), or ROWRELAY_AZURE_AUTH=entra to sign in "
        "with Microsoft Entra ID"
    )


def test_entra_without_azure_identity_installed_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        if name == "azure.identity":
            raise ModuleNotFoundError("No module named 'azure'")
        return real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert credentials_problem(azure_settings("https://example.openai.azure.com"), "azure") == (
        "signing in with Microsoft Entra ID needs azure-identity, which is not installed: "
        "pip install 'rowrelay[azure]'"
    )
