"""What a user installs is one import package, `rowrelay`, that works from any working directory.

The wheel is built from this checkout and installed into a fresh virtual environment (pinned to the
lock, so the test installs what CI tested). Then, from a folder holding its own `tasks.py`, `tasks/`
and `flows/` packages (what Prefect, invoke and Celery projects have), the installed `rowrelay` runs a
batch on the embedded emulator, reads its state, exports it, serves the emulator, and imports in a
Jupyter kernel started there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from rowrelay.flows.warm import stop_runner
from tests.support.warm import served, wait_for_runner

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"
SOURCE_ROOTS = {"rowrelay.flows": ROOT / "flows", "rowrelay.tasks": ROOT / "tasks"}


def test_every_source_package_is_listed_for_the_build() -> None:
    """setuptools is given the package list explicitly: a new folder left out would vanish from wheels."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {"rowrelay"}
    for name, folder in SOURCE_ROOTS.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            if relative[:1] != ("rowrelay",) and "__pycache__" not in relative:
                on_disk.add(".".join((name, *relative)))
    assert listed == on_disk


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel from it (uv build's default): checks the sdist, and setuptools
    # builds in a temporary folder instead of the checkout's build/.
    subprocess.run([UV, "build", "--out-dir", out, ROOT], check=True, capture_output=True)
    (built,) = out.glob("rowrelay-*.whl")
    return built


def test_the_wheel_holds_only_rowrelay(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
        names = set(archive.namelist())
    dist_info = {top for top in tops if top.endswith(".dist-info")}
    assert tops - dist_info == {"rowrelay"}
    assert {"rowrelay/__init__.py", "rowrelay/py.typed", "rowrelay/flows/cli.py"} <= names
    assert "rowrelay/tasks/emulator/__main__.py" in names
    assert "rowrelay/tasks/llm/prices.json" in names
    # Without it a first run still works, only slower (its Prefect database migrated, not seeded), so
    # nothing else would notice it missing from a wheel.
    assert "rowrelay/flows/prefect_schema.sql" in names
    assert not any(name.startswith("rowrelay/flows/rowrelay/") for name in names)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel (and ipykernel, for the notebook check); returns its bin folder."""
    work = tmp_path_factory.mktemp("venv")
    pins, venv = work / "constraints.txt", work / "env"  # uv >= 0.13 refuses a venv in a non-empty folder
    lock: list[str | Path] = [
        UV,
        "export",
        "--frozen",
        "--all-extras",
        "--no-emit-project",
        "--no-hashes",
        "-o",
        pins,
    ]
    subprocess.run(lock, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([UV, "venv", "--python", sys.executable, venv], check=True, capture_output=True)
    python = venv / "bin" / "python"
    install: list[str | Path] = [
        UV,
        "pip",
        "install",
        "--python",
        python,
        "-c",
        pins,
        str(wheel),
        "ipykernel",
    ]
    # Not compiled at install (the Makefile's UV_COMPILE_BYTECODE compiled all of Prefect, pandas and the
    # SDK: 15 s): the processes run here write the bytecode of just what they import (`env`). One import
    # first, so site-packages' own __pycache__ exists before the first run: made during it, it changed
    # site-packages' mtime, a part of the warm runner's fingerprint (flows/warm.py), and the runner the
    # first run left could not serve the second.
    uncompiled = {**os.environ, "UV_COMPILE_BYTECODE": "0"}
    subprocess.run(install, check=True, capture_output=True, env=uncompiled)
    writing = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # typing_extensions: a module at site-packages' top, as those Prefect imports
    top_level: list[str | Path] = [python, "-c", "import typing_extensions"]
    subprocess.run(top_level, check=True, capture_output=True, env=writing)
    return venv / "bin"


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    """A working directory with the generic names users' own projects have (Prefect's `flows/`,
    invoke's `tasks.py`, Celery's `tasks/`), each saying whose it is."""
    project = tmp_path / "project"
    for package in ("tasks", "flows"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text("WHOSE = 'the user'\n")
    (project / "tasks.py").write_text("WHOSE = 'the user'\n")
    (project / "tickets.csv").write_text("id,text\n1,first\n2,second\n3,third\n")
    return project


@pytest.fixture
def env(prefect_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """No key and no base URL (so the embedded emulator), a private rowrelay home; the emulator it
    leaves running on purpose is stopped afterwards."""
    home = tmp_path / "home"
    clean = {k: v for k, v in prefect_env.items() if not k.startswith(("OPENAI_", "AZURE_", "ROWRELAY_"))}
    clean.pop("VIRTUAL_ENV", None)
    clean.pop("PYTHONPATH", None)
    # The first process of the fresh venv writes the bytecode of what it imports, which the later ones
    # read (with PYTHONDONTWRITEBYTECODE, as on CI machines, each would compile the same modules again).
    clean.pop("PYTHONDONTWRITEBYTECODE", None)
    yield {**clean, "ROWRELAY_HOME": str(home), "ROWRELAY_EMULATOR_ARGS": "--latency fixed:0.2"}
    record = home / "emulator.json"
    if record.exists():
        os.kill(json.loads(record.read_text())["pid"], signal.SIGTERM)
    stop_runner(home)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_installed_rowrelay_runs_from_a_folder_with_its_own_tasks_and_flows(
    installed: Path, user_project: Path, env: dict[str, str]
) -> None:
    def rowrelay(*args: str) -> subprocess.CompletedProcess[str]:
        command: list[str | Path] = [installed / "rowrelay", *args]
        done = subprocess.run(command, cwd=user_project, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
        return done

    rowrelay("run", "tickets.csv", "--template", "Say: {text}", "--id-column", "id", "--state", "state")
    home = Path(env["ROWRELAY_HOME"])
    wait_for_runner(home)  # the run left a warm runner, which serves the next one (flows/warm.py)
    rowrelay("run", "tickets.csv", "--template", "Say: {text}", "--id-column", "id", "--state", "again")
    assert len(served(home)) == 1
    assert "completed" in rowrelay("status", "again").stdout
    assert "completed" in rowrelay("status", "state").stdout
    rowrelay("export", "state", "--output", "out.csv")
    exported = (user_project / "out.csv").read_text().splitlines()
    assert len(exported) == 4
    assert all(",completed," in line for line in exported[1:])

    emulator = subprocess.Popen(
        [installed / "rowrelay", "emulator", "--port", "0"], cwd=user_project, env=env, stdout=subprocess.PIPE
    )
    assert emulator.stdout is not None
    first = emulator.stdout.readline().decode()
    emulator.send_signal(signal.SIGINT)
    assert emulator.wait(timeout=30) == 0
    emulator.stdout.close()
    assert first.startswith("rowrelay emulator listening on http://127.0.0.1:")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_installed_rowrelay_imports_in_a_jupyter_kernel_started_in_that_folder(
    installed: Path, user_project: Path, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "jupyter" / "kernels" / "fresh"
    spec.mkdir(parents=True)
    argv = [str(installed / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "fresh", "language": "python"})
    )
    # The kernel runs in the project folder, so `import tasks` is the user's; rowrelay is unaffected.
    source = (
        "import flows, tasks\nfrom rowrelay import run_batch\nprint(run_batch.name, tasks.WHOSE, flows.WHOSE)"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    kernel_env = {**env, "JUPYTER_PATH": str(tmp_path / "jupyter"), "JUPYTER_PLATFORM_DIRS": "1"}
    for name in ("JUPYTER_PATH", "JUPYTER_PLATFORM_DIRS"):  # this process looks the kernel spec up
        monkeypatch.setenv(name, kernel_env[name])
    client = NotebookClient(
        notebook, kernel_name="fresh", timeout=120, resources={"metadata": {"path": str(user_project)}}
    )
    client.execute(env=kernel_env)
    assert notebook.cells[0].outputs[0]["text"].strip() == "rowrelay-batch the user the user"
