"""What Prefect's engine refuses about its API is said in one line; other errors are not taken for it
(the refusal of an address that is no API runs against a real server in test_local_prefect.py)."""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rowrelay.flows.prefect_api import ApiProbe, engine_refusal


@pytest.fixture
def self_signed_api(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate no store trusts (as one Prefect is told to accept
    with PREFECT_API_TLS_INSECURE_SKIP_VERIFY); it answers every request with 501."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_server_whose_certificate_no_store_trusts_is_reached(self_signed_api: str) -> None:
    assert ApiProbe(self_signed_api).problem() is None


def test_an_address_where_nothing_listens_is_not_reached(dark_address: str) -> None:
    assert ApiProbe(f"{dark_address}/api").problem() == "[Errno 111] Connection refused"


def test_a_server_of_another_major_version_is_said_as_prefect_says_it() -> None:
    exc = RuntimeError(
        "Found incompatible versions: client: 3.8.8, server: 2.19.0. Major versions must match."
    )
    assert engine_refusal(exc, configured=True) == (
        "the Prefect API this run is configured to record in cannot take it: Found incompatible versions: "
        "client: 3.8.8, server: 2.19.0. Major versions must match; nothing was sent"
    )


def test_other_runtime_errors_are_not_taken_for_a_refusal() -> None:
    assert engine_refusal(RuntimeError("Event loop is closed"), configured=True) is None


def test_the_local_server_gone_as_the_run_starts_says_to_run_again() -> None:
    try:
        raise RuntimeError("Failed to reach API at http://127.0.0.1:27000/api/") from OSError(
            "All connection attempts failed"
        )
    except RuntimeError as exc:
        said = engine_refusal(exc, configured=False)
    assert said == (
        "the local Prefect server at http://127.0.0.1:27000/api stopped answering as the run started (All "
        "connection attempts failed); run the same command again; nothing was sent"
    )
