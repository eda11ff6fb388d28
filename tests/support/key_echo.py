"""A server that repeats back the key it was sent, as servers do when they refuse one (OpenAI's 401 says
`Incorrect API key provided: sk-...`), from a thread, so that a command run as a subprocess can reach it
too. No real server does that on demand, and the emulator quotes no key."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator

SECRET = "sk-TRIALSECRET1234567890abcdef"
FRAGMENT = SECRET[8:-4]
"""The part of the key a masked print (`sk-TRIAL****cdef`) hides: found anywhere, the key leaked."""


def _envelope(message: str, kind: str, code: str | None, param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code, "param": param}}).encode()


Answer = tuple[int, str, Callable[[str], bytes]]
"""Status, content type, and the body made of the credential header the request carried. `event` is a
stream's `error` event: streamed creates only."""
ANSWERS: dict[str, Answer] = {
    "401": (401, "application/json", lambda k: _envelope(
        f"Incorrect API key provided: {k}. You can find your API key at https://platform.openai.com",
        "invalid_request_error", "invalid_api_key")),
    "403": (403, "application/json", lambda k: _envelope(
        f"Project does not have access to this key: {k}", "permission_error", None)),
    "quota": (429, "application/json", lambda k: _envelope(
        f"You exceeded your current quota for key {k}", "insufficient_quota", "insufficient_quota")),
    "page": (200, "text/html", lambda k: f"<html><body>Sign in again ({k})</body></html>".encode()),
    "400": (400, "application/json", lambda k: _envelope(
        f"Invalid input for key {k}", "invalid_request_error", None, "input")),
    "echo": (200, "application/json", lambda k: json.dumps({"headers": {"authorization": k}}).encode()),
    "event": (200, "text/event-stream", lambda k: b"data: " + json.dumps({"type": "error", "error": {
        "message": f"The stream failed for key {k}", "code": "server_error"}, "sequence_number": 0}
    ).encode() + b"\n\n"),
}  # fmt: skip
SAYS = {
    "401": "Incorrect API key provided",
    "403": "Project does not have access to this key",
    "quota": "You exceeded your current quota",
    "page": "Sign in again",
    "400": "Invalid input for key",
    "echo": "authorization",
    "event": "The stream failed for key",
}
"""The server's own words in each answer, which rowrelay must still say."""


@contextlib.contextmanager
def key_echo_server(answer: str) -> Iterator[str]:
    """Every request answered as ANSWERS[answer] says, quoting its `Authorization` or `api-key` header
    whole; yields the base URL (/v1)."""
    status, content_type, body_of = ANSWERS[answer]

    class Echo(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = body_of(self.headers.get("authorization") or self.headers.get("api-key") or "")
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
