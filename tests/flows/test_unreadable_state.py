"""A state file or folder this user may not read is said as such, in one line, exit 2: not as damage,
whose way out (`rowrelay repair`) moved the whole file aside and lost its rows' latest versions, and not
as a traceback. Run as a user the file modes bind (tests/support/unprivileged.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.state.files import BATCH_FILE, DAMAGED, RUN_FILE, SEGMENTS, SNAPSHOTS
from tests.support.cli import INSTALLED, ROOT, rowrelay
from tests.support.damage import planned_batch
from tests.support.tickets import TEMPLATE
from tests.support.unprivileged import unprivileged

ENV = dict(os.environ)
_SAID = (
    "permission denied; nothing was changed: let this user read the batch's folder (or run as the user who "
    "owns it), then try again"
)


@pytest.fixture
def batch(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(input, state directory) of a planned batch; every mode set back afterwards, so it can be removed."""
    source, state, _ = planned_batch(tmp_path)
    yield source, state
    for path in [state, *state.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _refused(args: list[str], env: dict[str, str] = ENV) -> str:
    result = rowrelay(args, env, command=unprivileged(INSTALLED))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("WARNING")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _commands(source: Path, state: Path, tmp_path: Path) -> list[tuple[list[str], dict[str, str]]]:
    nothing_started = {**ENV, "ROWRELAY_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-unused",
                       "ROWRELAY_PREFECT": "ephemeral", "ROWRELAY_HOME": str(tmp_path / "home")}  # fmt: skip
    run = ["run", str(source), "--template", TEMPLATE, "--id-column", "ticket_id", "--state", str(state),
           "--output", str(tmp_path / "out.csv")]  # fmt: skip
    return [
        (["status", str(state)], ENV),
        (["export", str(state), "--output", str(tmp_path / "x.csv")], ENV),
        (["retry", str(state)], ENV),
        (["repair", str(state)], ENV),
        (run, nothing_started),
    ]


def test_a_segment_this_user_may_not_read_is_not_called_damaged_nor_moved(
    batch: tuple[Path, Path], tmp_path: Path
) -> None:
    source, state = batch
    segment = sorted((state / SEGMENTS).glob("*.parquet"))[-1]
    content = segment.read_bytes()
    segment.chmod(0)
    for args, env in _commands(source, state, tmp_path):
        assert _refused(args, env) == f"error: cannot read {segment}: {_SAID}", args
    assert not (
        state / DAMAGED
    ).exists()  # the repair refused: the file is whole, its rows' latest versions in it
    assert segment.read_bytes() == content
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("folder", [SNAPSHOTS, SEGMENTS])
def test_a_folder_this_user_may_not_list_is_one_line_not_a_traceback(
    batch: tuple[Path, Path], tmp_path: Path, folder: str
) -> None:
    source, state = batch
    (state / folder).mkdir(exist_ok=True)
    (state / folder).chmod(0)
    for args, env in _commands(source, state, tmp_path):
        assert _refused(args, env) == f"error: cannot read {state / folder}: {_SAID}", args


@pytest.mark.parametrize("name", [RUN_FILE, BATCH_FILE])
def test_a_record_this_user_may_not_read_is_not_set_aside(batch: tuple[Path, Path], name: str) -> None:
    _, state = batch
    (state / name).chmod(0)
    for args in (
        ["repair", str(state)],
        ["retry", str(state)] if name == BATCH_FILE else ["export", str(state)],
    ):
        assert _refused(args) == f"error: cannot read {state / name}: {_SAID}", args
    assert not (state / DAMAGED).exists()
    assert (state / name).exists()


def test_from_python_it_is_a_state_error_naming_the_file(batch: tuple[Path, Path]) -> None:
    _, state = batch
    segment = sorted((state / SEGMENTS).glob("*.parquet"))[-1]
    segment.chmod(0)
    code = (
        "import sys\nfrom rowrelay import StateError, load\ntry:\n    load(sys.argv[1])\n"
        "except StateError as exc:\n    print(type(exc).__name__, exc.path)\n"
    )
    done = subprocess.run(
        unprivileged([sys.executable, "-c", code, str(state)]), cwd=ROOT, capture_output=True, text=True
    )
    assert done.stdout.strip() == f"StateAccessError {segment}", done.stderr
