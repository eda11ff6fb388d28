"""Ctrl-C in each window of `rowrelay run`'s start ends in one line and exit 130: never a traceback (the
import it cut), nor typer's silent 130. The windows last a few milliseconds to a second, too short to
hit from outside at a delay, so the SIGINT is sent from the import that opens each one (a finder on
`sys.meta_path`), through the installed command's entry point, in a process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rowrelay.flows.start_ctrl_c import INTERRUPTED_AT_START
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from tests.support.cli import ROOT, env_for, run_args, sigint_as_from_a_terminal
from tests.support.tickets import write_tickets

AT_IMPORT = """
import os, signal, sys
where = sys.argv.pop(1)
class CtrlCAt:
    def find_spec(self, name, path=None, target=None):
        if name == where:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)  # as this import begins
            sum(range(1000))  # Python runs the handler here: inside the import, as a real Ctrl-C lands
        return None
sys.meta_path.insert(0, CtrlCAt())
sys.argv[0] = "rowrelay"
from rowrelay.flows.entry import main
main()
"""
WINDOWS = {
    # flows/entry.py's own imports: a traceback of the import, killed by SIGINT
    "typer": INTERRUPTED_AT_START,
    # typer parsing `run`'s options, which loads its module: typer's silent 130
    "rowrelay.flows.run_command": INTERRUPTED_AT_START,
    # the precheck's import, before its own handling: typer's silent 130
    "rowrelay.flows.precheck": INTERRUPTED_AT_START,
    # Prefect's import, the flow's module: typer's silent 130 (or, cut inside one of pydantic's
    # serializers, `PydanticSerializationError: ... KeyboardInterrupt`, exit 1)
    "rowrelay.flows.batch": "interrupted: stopped before sending anything; run the same command to resume",
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("module", list(WINDOWS))
def test_ctrl_c_in_the_start_of_a_run_says_so_in_one_line(
    prefect_env: dict[str, str], tmp_path: Path, module: str
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    with running_emulator(EmulatorConfig()) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_WARM="false")
        ended = subprocess.run(
            [sys.executable, "-P", "-c", AT_IMPORT, module, *run_args(source, tmp_path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=100,
            preexec_fn=sigint_as_from_a_terminal,
        )
        assert not emu.emulator.listing(), "nothing was sent"
    assert (ended.returncode, ended.stderr.strip().splitlines()[-1:]) == (130, [WINDOWS[module]]), (
        ended.stderr
    )
    assert "Traceback" not in ended.stderr
