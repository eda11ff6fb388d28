"""TLS failures that waiting never cures, told apart from passing faults of a connection.

A connection that fails its TLS handshake sent nothing, so a create so met is retried as a server that is
down would be (`sdk_errors.never_connected`). Two such failures are the address's or the machine's, and
every request meets them the same: an `https://` base URL whose server speaks plain http (the handshake
reads an HTTP answer: `WRONG_VERSION_NUMBER`), and a certificate this machine does not trust. Retried, a
run met them until `--give-up-after` (an hour), then said the server had answered nothing. They stop the
run at once instead, saying which (`sdk_errors.translate`). A handshake cut short (a reset, an EOF) may
pass, and is retried as before.
"""

from __future__ import annotations

import ssl

NOT_TLS = frozenset(
    {"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"}
)
"""OpenSSL's reasons for a handshake answered with bytes that are not TLS (an HTTP server's answer)."""


def lasting_tls_problem(exc: BaseException, url: str) -> str | None:
    """What is wrong, in one line, when `exc` (a connection error to `url`) was caused by a TLS failure
    that will not change by waiting; else None. Both transports chain the `ssl` error under their own."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        # aiohttp's own errors subclass the `ssl` ones too, without their details: the one under it has them.
        verify_message = getattr(cause, "verify_message", None)
        if isinstance(cause, ssl.SSLCertVerificationError) and verify_message is not None:
            return (
                f"the certificate of {url} is not trusted here ({verify_message}): give the CA that signed "
                "it with SSL_CERT_FILE (a PEM bundle), or check the address"
            )
        reason = getattr(cause, "reason", None)
        if isinstance(cause, ssl.SSLError) and reason in NOT_TLS:
            return (
                f"{url} does not speak TLS ({reason}): is the server https? One serving plain http "
                "answers so; give its address as http://"
            )
        cause = cause.__cause__ or cause.__context__
    return None
