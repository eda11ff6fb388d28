"""The environment variables this process has read a key from by name: an endpoints entry's
`api_key_env` or `azure_api_key_env` (`settings.secret_from_env`).

rowrelay's own key variables are known by their names (`OPENAI_*`, `AZURE_OPENAI_*`, `ROWRELAY_*`: see
`flows/detached.NOT_PASSED`); these are known only once read. The long-lived processes a run leaves
behind (the local Prefect server, the warm runner, the embedded emulator) are started without either:
none of them sends a request with a key, and each command a warm runner serves brings its own
environment, its keys included, in place of the runner's.
"""

from __future__ import annotations

__all__ = ["key_variables", "read_a_key_from"]

_READ: set[str] = set()


def read_a_key_from(variable: str) -> None:
    """Note that `variable` holds a key."""
    _READ.add(variable)


def key_variables() -> frozenset[str]:
    """The variables noted so far."""
    return frozenset(_READ)
