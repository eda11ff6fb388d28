"""Every client of a process shares one TLS context (each costs tens of ms to make), unless the
certificate variables a command sets differ from those it was made with."""

from __future__ import annotations

from pathlib import Path

import certifi
import pytest

from rowrelay.tasks.llm.client import tls_context


def test_clients_share_one_context_made_as_httpx_would() -> None:
    assert tls_context() is tls_context()
    assert tls_context().check_hostname


def test_a_certificate_file_set_later_gets_a_context_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tls_context()
    bundle = Path(certifi.where()).read_text()
    first = bundle[: bundle.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    (tmp_path / "one.pem").write_text(first + "\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "one.pem"))
    mine = tls_context()
    assert mine is not before
    assert mine.cert_store_stats()["x509_ca"] == 1  # the file the command named, not the runner's bundle
