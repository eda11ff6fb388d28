"""What `rowrelay --help`, `status` and `export` import, in a real process: not Prefect, not the SDK.

Each of these starts in well under a second because it imports only what it works with (README,
"Performance"); one eager import of the flow, the SDK or pandas in the CLI's modules would quietly
cost one to several seconds a command again. The process runs the command to its end, then lists every
module it imported; what a command needs is checked as present too, so the list is known to be real.
Speed itself is measured by tests/benchmarks/bench_startup.py, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from tests.support.cli import ROOT
from tests.support.finished_batch import finished_batch

_RUN_THEN_LIST_MODULES = """
import json, sys
listing = sys.argv.pop(1)
sys.argv[0] = "rowrelay"
try:
    from rowrelay.flows.cli import app
    app()
finally:
    with open(listing, "w") as f:
        json.dump(sorted(sys.modules), f)
"""
"""`rowrelay ARGS`, then the names of every module the process imported, written to a file (stdout is
the command's)."""

RUN_ONLY = {"prefect", "openai", "agent_framework", "agent_framework_openai", "starlette", "uvicorn"}
"""What only `run`, `cancel`, `deploy` and `emulator` need: the flow, the SDK, the emulator's server."""
SETTINGS = "pydantic_settings"
"""The settings' model: `run` and `deploy` take their options' help from it, and are built only when run
or listed by `--help`."""


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A finished 20-row batch's state directory (its input and run.json beside it)."""
    with running_emulator(EmulatorConfig()) as emu:
        yield finished_batch(emu, tmp_path_factory.mktemp("batch"), 20)


def imported(args: list[str], listing: Path, *, exit_code: int = 0) -> set[str]:
    """The top-level packages `rowrelay ARGS` imported; the command must end with `exit_code`."""
    command = [sys.executable, "-P", "-c", _RUN_THEN_LIST_MODULES, str(listing), *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == exit_code, done.stderr
    return {name.split(".")[0] for name in json.loads(listing.read_text())}


def test_help_imports_neither_the_flow_nor_the_sdk_nor_any_table_library(tmp_path: Path) -> None:
    modules = imported(["--help"], tmp_path / "modules.json")
    assert {"typer", "rowrelay"} <= modules
    assert not modules & (RUN_ONLY | {"pandas", "pyarrow", "numpy"})


@pytest.mark.parametrize("form", [[], ["--json"]])
def test_status_reads_the_table_with_arrow_alone(tmp_path: Path, batch: Path, form: list[str]) -> None:
    modules = imported(["status", str(batch), *form], tmp_path / "modules.json")
    assert "pyarrow" in modules
    assert not modules & (RUN_ONLY | {"pandas", SETTINGS})


def test_status_says_what_went_wrong_with_arrow_alone(tmp_path: Path) -> None:
    """The run's closing line sends the user to `status` to learn why rows did not complete."""
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), fail_rate=1.0)
    with running_emulator(config) as emu:
        failed = finished_batch(emu, tmp_path, 3)
    listing = tmp_path / "modules.json"
    command = [sys.executable, "-P", "-c", _RUN_THEN_LIST_MODULES, str(listing), "status", str(failed)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'did not complete: 3 failed/response_failed (e.g. "The server had an error' in done.stdout
    modules = {name.split(".")[0] for name in json.loads(listing.read_text())}
    assert not modules & (RUN_ONLY | {"pandas", SETTINGS})


def test_export_imports_pandas_but_neither_the_flow_nor_the_sdk(tmp_path: Path, batch: Path) -> None:
    output = tmp_path / "out.csv"
    modules = imported(["export", str(batch), "--output", str(output)], tmp_path / "modules.json")
    assert {"pyarrow", "pandas"} <= modules  # the input is read and joined as a DataFrame
    assert not modules & (RUN_ONLY | {SETTINGS})
    assert len(output.read_text().splitlines()) == 21  # the header and every row: the export ran


def test_a_run_refused_for_its_options_or_its_input_imports_neither_the_flow_nor_the_sdk(
    tmp_path: Path,
) -> None:
    """The SDK alone took about a second of a refusal (`rowrelay.tasks.llm` and `.run` import lazily), and
    pandas with NumPy more than half a second of a refused option (`rowrelay.tasks.dataset` too)."""
    bad_option = ["run", str(tmp_path / "in.csv"), "--template", "{a}", "--rpm", "-5"]
    bad_template = ["run", str(tmp_path / "in.csv"), "--template", "{0}"]
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    bad_input = ["run", str(tmp_path / "bad.parquet"), "--template", "{a}", "--state", str(tmp_path / "s")]
    for args in (bad_option, bad_template, bad_input):
        modules = imported(args, tmp_path / "modules.json", exit_code=2)
        assert {"rowrelay", SETTINGS} <= modules
        assert not modules & RUN_ONLY
        if args is not bad_input:  # the input is not read: no table library is needed
            assert not modules & {"pandas", "pyarrow", "numpy"}, args
