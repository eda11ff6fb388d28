"""Each of a deployment's runs has a name of its own, the one Prefect's console says it by: its batch and the
time it was scheduled for. A trial's console said `Flow run 'banana-quokka'` (the slug Prefect's
scheduler gives a run) while the UI showed every run of the deployment renamed to its batch (`minute`):
a console line's run could not be found in the UI, and all of the deployment's runs had one name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from tests.support.deployments import served, wait_for_deployment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def test_each_run_is_named_after_its_batch_and_schedule_in_the_api_and_on_the_console(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    from prefect.deployments import arun_deployment

    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    due = [minute - timedelta(minutes=2), minute - timedelta(minutes=1)]  # late: they start at once
    info = {**prefect_env, "PREFECT_LOGGING_LEVEL": "INFO"}  # Prefect's lines of each run on the console
    with (
        running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu,
        served("names", info, emu, tmp_path, rows=2) as (name, state),
    ):
        await wait_for_deployment(name, tmp_path / "serve-names.log")
        runs = [await arun_deployment(name, scheduled_time=when, timeout=180) for when in due]
    said = (tmp_path / "serve-names.log").read_text()
    expected = [f"{state.name} {when:%Y-%m-%d %H:%M} UTC" for when in due]
    assert [run.name for run in runs] == expected, said[-3000:]
    for run_name in expected:
        assert f"Flow run '{run_name}' - Beginning flow run '{run_name}'" in said, said[-3000:]
        assert f"Flow run '{run_name}' - Finished in state Completed" in said, said[-3000:]
