"""`run_batch` called from Python refuses a secret in its arguments before Prefect records anything.

A flow run stores its parameters as given. The arguments refused for holding a secret (a base URL with
credentials, an endpoint's key, an MCP server's headers, a key pasted as --rpm) were refused because they
would be recorded with the run, yet the flow run that refused them had already been created with them,
and its error log repeated pydantic's `input_value`. Each call here is refused against the test's real
Prefect API, and leaves no flow run, no log record and no file of the Prefect server holding the key.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.errors import UsageError
from tests.support.key_echo import FRAGMENT, SECRET
from tests.support.leaks import every_log_record, files_holding
from tests.support.prefect_records import flow_runs_on
from tests.support.tickets import TEMPLATE, write_tickets

PASSWORD = "pw-5e1f0c9a7b"
"""A URL's password, short: pydantic shortens a long value it repeats (`input_value='http://...'`), which
would hide a leak of the key from a check for its middle."""
MCP = {"type": "mcp", "server_label": "tickets", "server_url": "https://mcp.example.com/mcp"}
REFUSED: dict[str, dict[str, Any]] = {
    "a base URL with credentials": {"base_url": f"http://user:{PASSWORD}@127.0.0.1:9/v1"},
    "an endpoint's key": {"endpoints": [{"name": "east", "api_key": SECRET}]},
    "an endpoint's base URL with credentials": {
        "endpoints": [{"name": "east", "base_url": f"http://user:{PASSWORD}@127.0.0.1:9/v1"}]
    },
    "an MCP server's headers": {
        "tools": [{**MCP, "require_approval": "never", "headers": {"Authorization": f"Bearer {SECRET}"}}]
    },
    "a key given as --rpm": {"rpm": SECRET},
}
QUIET = tuple(case for case in REFUSED if case != "a key given as --rpm")
"""The refusals whose message and traceback must not repeat the value either (a whole number asked for
and a key given says what it got, to the caller alone)."""


def copies() -> dict[str, Callable[..., Any]]:
    from rowrelay.flows.batch import run_batch

    return {"run_batch": run_batch, "a copy": run_batch.with_options(name="nightly-copy")}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("flow", ["run_batch", "a copy"])
async def test_a_refused_call_leaves_nothing_in_prefect(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, case: str, flow: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    state = tmp_path / "state"
    with every_log_record() as logged, pytest.raises(UsageError) as raised:
        await copies()[flow](str(source), template=TEMPLATE, state=str(state), **REFUSED[case])
    assert await flow_runs_on(state) == []  # refused before any flow run was created
    for secret in (FRAGMENT, PASSWORD):
        assert [line for line in logged if secret in line] == []
        assert files_holding(Path(prefect_env["PREFECT_HOME"]), secret) == []
        assert files_holding(tmp_path, secret) == []
    if case in QUIET:
        told = "".join(traceback.format_exception(raised.value))  # with every exception down its chain
        assert FRAGMENT not in told, told
        assert PASSWORD not in told, told


async def test_a_call_refused_with_return_state_raises_as_well(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    """`return_state=True` asks Prefect for the run's final state: a call refused before any run has
    none, so it raises as a plain call does."""
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 3)
    with pytest.raises(UsageError, match="must not hold credentials"):
        await run_batch(str(source), template=TEMPLATE, state=str(tmp_path / "state"),
                        return_state=True, **REFUSED["a base URL with credentials"])  # fmt: skip
    assert await flow_runs_on(tmp_path / "state") == []
