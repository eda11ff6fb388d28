"""The lean transport goes through the proxy the environment names, as the SDK's own (httpx) does, and
NO_PROXY means to it what it means to httpx. Before, it ignored them: behind a corporate proxy every
create failed to resolve the API's host (ClientConnectorDNSError), and the run waited `--give-up-after`,
while ROWRELAY_TRANSPORT=sdk went through.

The server's host here is `model.invalid`, which no resolver knows: only the proxy (a relay in front of
the emulator, tests/support/relay.py) can reach it, as a corporate proxy reaches a host outside.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm.calls import NotSentError, RowRequest
from rowrelay.tasks.llm.proxies import proxy_for
from rowrelay.tasks.llm.responses_backend import Transport
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.raw_http import backend_on
from tests.support.relay import relaying
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

REQUEST = RowRequest(
    row_key="row-1", prompt="hi", instructions=None, model="gpt-4.1-mini", metadata={"rowrelay_row": "row-1"}
)
OUTSIDE = "model.invalid"


def outside(emulator_url: str) -> str:
    """The emulator's /v1 under a host name only the proxy can reach."""
    return f"http://{OUTSIDE}:{urlsplit(emulator_url).port}/v1"


@pytest.mark.parametrize("transport", ["sdk", "lean"])
@pytest.mark.parametrize("no_proxy", [None, "other.invalid,127.0.0.1"])
async def test_both_transports_go_through_the_proxy_the_environment_names(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, transport: Transport, no_proxy: str | None
) -> None:
    async with relaying(emulator.url) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.proxy)
        if no_proxy is not None:
            monkeypatch.setenv("NO_PROXY", no_proxy)
        async with backend_on(outside(emulator.url), transport) as backend:
            created = await backend.create(REQUEST)
            assert created.response_id is not None
            polled = await backend.retrieve(created.response_id)
    assert polled.response_id == created.response_id
    port = urlsplit(emulator.url).port
    assert proxy.hosts == [f"{OUTSIDE}:{port}"] * 2, "the create and the poll, each through the proxy"


@pytest.mark.parametrize("transport", ["sdk", "lean"])
@pytest.mark.parametrize("no_proxy", [OUTSIDE, ".invalid", "*"])
async def test_a_host_no_proxy_names_is_reached_directly_by_both_transports(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, transport: Transport, no_proxy: str
) -> None:
    """Directly, nothing resolves `model.invalid`: the create never had a connection, and nothing went
    through the proxy."""
    async with relaying(emulator.url) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.proxy)
        monkeypatch.setenv("no_proxy", no_proxy)
        async with backend_on(outside(emulator.url), transport) as backend:
            with pytest.raises(NotSentError):
                await backend.create(REQUEST)
    assert proxy.hosts == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2", "[::1]", "app.localhost"])
def test_loopback_is_reached_directly_whatever_the_proxy_variables_say(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    """A proxy elsewhere cannot reach this machine's loopback (the embedded emulator, a local model
    server); httpx would send it there unless NO_PROXY names it, and the README says so."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert proxy_for(f"http://{host}:8000/v1/") is None
    assert proxy_for(f"https://{host}:8000/v1/") is None
    assert proxy_for("https://api.openai.com/v1/") == "http://proxy.invalid:3128"


def test_a_proxy_the_lean_transport_cannot_speak_to_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://proxy.invalid:1080")
    with pytest.raises(UsageError, match=r"socks5://.*ROWRELAY_TRANSPORT=sdk"):
        proxy_for("https://api.openai.com/v1/")


async def test_a_batch_behind_a_proxy_completes_each_row_sent_once(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The trial's run: on the lean transport (the default), every row through the proxy, poll mode's
    first streamed rows too. Before, every create failed to resolve the host and the run gave up."""
    rows = 6
    async with relaying(emulator.url) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.proxy)
        settings = settings_for(Address(outside(emulator.url)), give_up_after=5.0)
        report = await run_table(new_table(tmp_path / "batch", rows), settings, prompts(rows))
        monkeypatch.delenv("HTTP_PROXY")
        started, unanswered = jobs_of(emulator.url)
    frame = load(tmp_path / "batch")
    assert report.counts == {"completed": rows}
    assert set(proxy.hosts) == {f"{OUTSIDE}:{urlsplit(emulator.url).port}"}
    assert set(started.values()) == {1}
    assert_every_job_is_paid_for(frame, started, unanswered)
