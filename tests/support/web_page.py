"""A web server that is not the API: every request is answered with one page (200, text/html), from a
thread, so that a command run as a subprocess can reach it while the test waits for the command."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator

PAGE = b"<html><body><h1>Welcome to nginx!</h1></body></html>"


@contextlib.contextmanager
def web_page_server() -> Iterator[tuple[str, list[str]]]:
    """Yields the base URL (/v1) and the requests served so far (`METHOD PATH`, in order)."""
    served: list[str] = []

    class Page(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            served.append(f"{self.command} {self.path}")
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        do_GET = do_POST = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
