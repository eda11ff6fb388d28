"""Which proxy the lean transport (wire.py) goes through to a server: the one the SDK's own transport
(httpx) would take from the environment, so that both transports reach the same servers the same way.

`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` (either case) are read by httpx's own function
and matched by httpx's own patterns: a `NO_PROXY` entry means to the lean transport what it means to the
SDK's. Before, the lean transport ignored them all: behind a corporate proxy every create failed to
resolve the API's host, and the run waited out `--give-up-after` (an hour), while `ROWRELAY_TRANSPORT=sdk`
went through.

One difference, on purpose: a loopback address (`127.0.0.0/8`, `::1`, `localhost`: the embedded emulator,
a model server on this machine) is always reached directly. A proxy elsewhere cannot reach this
machine's loopback, and httpx sends it there unless `NO_PROXY` names it.
"""

from __future__ import annotations

import httpx2
from httpx2._utils import URLPattern, get_environment_proxies

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.loopback import loopback

SPOKEN = ("http", "https")
"""Proxy schemes aiohttp speaks (an HTTP proxy, tunnelling https with CONNECT, or one reached over TLS)."""


def proxy_for(url: str) -> str | None:
    """The proxy requests to `url` go through, or None to go directly. Raises `UsageError` for a proxy
    the lean transport cannot speak to (SOCKS)."""
    target = httpx2.URL(url)
    if loopback(target.host):
        return None
    # httpx's order: the most specific pattern first, as its client sorts its mounts.
    patterns = sorted(
        ((URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()),
        key=lambda mount: mount[0],
    )
    proxy = next((proxy for pattern, proxy in patterns if pattern.matches(target)), None)
    if proxy is not None and httpx2.URL(proxy).scheme not in SPOKEN:
        raise UsageError(
            f"the proxy for {target.scheme}:// requests is {httpx2.URL(proxy).scheme}:// (from the "
            "environment's proxy variables), which the lean transport cannot speak to: set "
            "ROWRELAY_TRANSPORT=sdk, or name an http:// proxy"
        )
    return proxy
