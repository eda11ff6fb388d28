"""This machine's loopback, and keeping it off the environment's proxy.

rowrelay talks to servers of its own on loopback: the local Prefect server (its health check and Prefect's
client), the embedded emulator, the warm runner's services. With `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY`
set, as behind a corporate proxy, httpx (Prefect's client, the SDK's transport) sends loopback requests
to that proxy too unless `NO_PROXY` names them, and a proxy elsewhere cannot reach this machine's
loopback: every `rowrelay run` waited minutes, then said "the local Prefect server did not start", and
Prefect repeated "EventsWorker failed". So the command line, and a run from Python before it starts or
reaches the local Prefect server, adds the loopback names to `NO_PROXY` when a proxy variable is set
(`direct_to_loopback`). A `NO_PROXY` of `*` already bypasses every proxy; names already there are kept.
"""

from __future__ import annotations

import ipaddress
from collections.abc import MutableMapping

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
"""What `NO_PROXY` is given: the addresses rowrelay's own servers listen on, and the name of them."""
_PROXIES = ("http_proxy", "https_proxy", "all_proxy")


def loopback(host: str) -> bool:
    """Whether `host` is this machine's loopback: `localhost`, or an address in 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def direct_to_loopback(environ: MutableMapping[str, str]) -> None:
    """Add this machine's loopback to `environ`'s `NO_PROXY` (and to `no_proxy`, where it is set: the
    lower-case name wins where both are, as urllib reads them for httpx) when any proxy variable is set;
    leave `environ` as it is otherwise."""
    if not any(environ.get(name) or environ.get(name.upper()) for name in _PROXIES):
        return
    names = [name for name in ("no_proxy", "NO_PROXY") if name in environ] or ["NO_PROXY"]
    for name in names:
        entries = [entry.strip() for entry in environ.get(name, "").split(",") if entry.strip()]
        if "*" in entries:
            continue
        missing = [each for each in LOOPBACK_NAMES if each not in entries]
        if missing:
            environ[name] = ",".join([*entries, *missing])
