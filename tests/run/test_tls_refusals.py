"""TLS failures no wait cures stop the run at once, in one line naming them, nothing spent: an https://
base URL whose server speaks plain http (`WRONG_VERSION_NUMBER`), and a certificate this machine does not
trust. Before, each create was retried as a server that is down until `--give-up-after` (an hour), which
then said the server had answered no request. A closed port keeps being waited for
(tests/llm/test_translate.py: a refused connection spends nothing and is retried)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import BackendRefusedError
from rowrelay.tasks.llm.responses_backend import Transport
from rowrelay.tasks.state import load
from tests.support.duplicates import jobs_of
from tests.support.raw_http import backend_on
from tests.support.runs import Address, new_table, prompts, run_table, settings_for
from tests.support.tls_server import untrusted_tls

ROWS = 3
WRONG_SCHEME = "does not speak TLS (WRONG_VERSION_NUMBER): is the server https?"
UNTRUSTED = "is not trusted here (self-signed certificate): give the CA that signed it with SSL_CERT_FILE"


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_an_https_base_url_for_a_plain_http_server_stops_the_run_at_once(
    emulator: RunningEmulator, tmp_path: Path, transport: Transport
) -> None:
    https = emulator.url.replace("http://", "https://")
    settings = settings_for(Address(https), transport=transport, give_up_after=10.0)
    with pytest.raises(BackendRefusedError) as stopped:
        await run_table(new_table(tmp_path / "batch", ROWS), settings, prompts(ROWS))
    frame = load(tmp_path / "batch")
    started, _ = jobs_of(emulator.url)
    assert str(stopped.value) == f"{https.removesuffix('/v1')} {WRONG_SCHEME} One serving plain http " + (
        "answers so; give its address as http://; nothing was sent"
    )
    assert set(frame["status"]) == {"pending"}
    assert (frame["attempts"] == 0).all()
    assert (frame["orphans"] == 0).all()
    assert sum(started.values()) == 0


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_an_untrusted_certificate_stops_the_run_at_once(tmp_path: Path, transport: Transport) -> None:
    async with untrusted_tls(tmp_path) as url:
        settings = settings_for(Address(url), transport=transport, give_up_after=10.0)
        with pytest.raises(BackendRefusedError, match=re.escape(UNTRUSTED)) as stopped:
            await run_table(new_table(tmp_path / "batch", ROWS), settings, prompts(ROWS))
    frame = load(tmp_path / "batch")
    assert str(stopped.value).startswith(f"the certificate of {url.removesuffix('/v1')} is not trusted")
    assert str(stopped.value).endswith("; nothing was sent")
    assert set(frame["status"]) == {"pending"}
    assert (frame["attempts"] == 0).all()


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_a_poll_meeting_them_stops_the_run_too_rows_keeping_their_ids(
    emulator: RunningEmulator, tmp_path: Path, transport: Transport
) -> None:
    """A batch resumed at the wrong address: its polls meet the same, every one of them."""
    https = emulator.url.replace("http://", "https://")
    async with backend_on(https, transport) as backend:
        with pytest.raises(BackendRefusedError, match=re.escape(WRONG_SCHEME)) as stopped:
            await backend.retrieve("resp_123")
    assert str(stopped.value).endswith("; rows keep their response ids")
    async with untrusted_tls(tmp_path) as url, backend_on(url, transport) as backend:
        with pytest.raises(BackendRefusedError, match=re.escape(UNTRUSTED)):
            await backend.retrieve("resp_123")
