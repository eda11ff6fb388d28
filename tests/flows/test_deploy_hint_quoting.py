"""The command `deploy` prints to start a run now is pasted into a shell as printed."""

from __future__ import annotations

import shlex

from rowrelay.flows.deploy_command import _run_now_said
from rowrelay.flows.services import UNTOLD_PREFECT_CLI


def test_the_start_a_run_hint_quotes_a_deployment_name_holding_a_quote() -> None:
    """`--name "bob's night"` printed `... run 'rowrelay-batch/bob's night'`, which a shell refuses
    (an unmatched quote)."""
    said = _run_now_said("rowrelay-batch/bob's night", "http://127.0.0.1:4200/api")
    command = said.removeprefix("to start a run now: ").removesuffix(f" ({UNTOLD_PREFECT_CLI})")
    api = "PREFECT_API_URL=http://127.0.0.1:4200/api"
    assert shlex.split(command) == [api, "prefect", "deployment", "run", "rowrelay-batch/bob's night"]
    plain = _run_now_said("rowrelay-batch/nightly", "http://127.0.0.1:4200/api")
    assert "prefect deployment run 'rowrelay-batch/nightly' (" in plain
