"""Where rowrelay serves on its local Prefect server, the `prefect` commands it suggests carry that server's
address: Prefect's CLI in a plain shell works on a throwaway server of its own, where `deploy`'s hint
(Prefect's own, `prefect deployment run 'rowrelay-batch/NAME'`) found no such deployment, and an
automation made there was lost. `rowrelay services` says how to point Prefect's CLI at the server."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rowrelay.flows.local_prefect import read_server
from rowrelay.flows.services import UNTOLD_PREFECT_CLI, what_they_are
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import ROOT, rowrelay
from tests.support.deployments import served
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.local_prefect import stopped_afterwards

_RUN_NOW = re.compile(
    r"to start a run now: PREFECT_API_URL=(\S+) prefect deployment run '([^']+)' \((.*)\)\n"
)
_PREFECT = str(Path(sys.executable).with_name("prefect"))


def _said(log: Path, pattern: re.Pattern[str]) -> re.Match[str]:
    deadline = time.monotonic() + 120
    while (found := pattern.search(log.read_text(errors="replace"))) is None:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    return found


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_hinted_prefect_command_reaches_the_local_server_and_services_says_its_address(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {key: value for key, value in prefect_env.items() if key != "PREFECT_API_URL"}  # a plain shell's
    env["ROWRELAY_HOME"] = str(home)
    with (
        running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu,
        stopped_afterwards(home),
        served("hinted", env, emu, tmp_path, rows=3) as (name, state),
    ):
        log = tmp_path / "serve-hinted.log"
        api, deployment, why = _said(log, _RUN_NOW).groups()
        record = read_server(home)
        assert record is not None
        assert (api, deployment, why) == (record.url, name, UNTOLD_PREFECT_CLI)
        assert "$ prefect deployment run" not in log.read_text()  # Prefect's own hint, with no address

        listed = rowrelay(["services"], env)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[0].split() == ["name", "pid", "address", "since", "memory", "alive"]
        assert listed.stderr == what_they_are(
            line.split()[0] for line in listed.stdout.splitlines()[1:]
        ) + "\n" + (
            f"to point Prefect's CLI at the local Prefect server: export PREFECT_API_URL={record.url} "
            f"({UNTOLD_PREFECT_CLI})\n"
        )

        # The hint as a user pastes it, in a shell with no Prefect API set: the deployment's run happens.
        pasted = [_PREFECT, "deployment", "run", deployment]
        told = {**env, "PREFECT_API_URL": api}
        ran = subprocess.run(pasted, cwd=ROOT, env=told, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        deadline = time.monotonic() + 180
        while not (state / "batch.json").exists() or set(load(state)["status"]) != {"completed"}:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        assert_every_job_is_paid_for(load(state), *jobs_of(emu.url))
