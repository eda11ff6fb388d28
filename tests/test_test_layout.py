"""The test suite's own layout: shared helpers live in tests/support (or a package's non-test module, or
a fixture), so no module under tests/ imports a test module, a benchmark script or a conftest.

Importing a test module re-collects nothing but runs its module body and couples two suites; a conftest
is pytest's to import (importing it by name loads it a second time, as another module).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_forbidden(module: str) -> bool:
    """A test module (`tests.….test_*`), a benchmark script (`tests.benchmarks.bench_*`) or a conftest."""
    parts = module.split(".")
    if parts[0] != "tests" or len(parts) < 2:
        return False
    last = parts[-1]
    return (
        last.startswith("test_")
        or last == "conftest"
        or (parts[:2] == ["tests", "benchmarks"] and last.startswith("bench_"))
    )


def _imported_modules(source: str, importer: str, is_package: bool = False) -> list[str]:
    """Every module an import statement in `source` names, relative imports resolved against `importer`;
    for `from X import y`, both X and X.y (y may be a module)."""
    package = importer if is_package else importer.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names)
    return found


def forbidden_imports(path: Path) -> list[str]:
    name = _module_name(path)
    imported = _imported_modules(path.read_text(), name, is_package=path.name == "__init__.py")
    return sorted({module for module in imported if _is_forbidden(module)})


SOURCES = sorted(TESTS.rglob("*.py"))


def test_the_scan_sees_the_test_and_benchmark_modules() -> None:
    names = {path.name for path in SOURCES}
    assert sum(path.name.startswith("test_") for path in SOURCES) >= 40
    assert {"bench_state.py", "bench_scale.py", "bench_baseline.py", "_common.py"} <= names
    assert {"test_cli.py", "test_runner.py", "test_batch_flow.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_module_imports_a_test_module_a_benchmark_or_a_conftest(path: Path) -> None:
    assert forbidden_imports(path) == [], (
        f"{path.relative_to(TESTS.parent)}: move the shared helper into tests/support (or a fixture)"
    )


@pytest.mark.parametrize(
    ("source", "importer", "expected"),
    [
        ("from tests.flows.test_cli import rowrelay", "tests.flows.test_agent_cli", ["tests.flows.test_cli"]),
        ("from tests.flows import test_cli", "tests.flows.test_x", ["tests.flows.test_cli"]),
        ("import tests.run.test_runner as r", "tests.test_plots", ["tests.run.test_runner"]),
        ("from .test_runner import run_batch", "tests.llm.test_x", ["tests.llm.test_runner"]),
        ("from . import test_runner", "tests.llm.test_x", ["tests.llm.test_runner"]),
        ("from ..flows.test_cli import env_for", "tests.llm.test_x", ["tests.flows.test_cli"]),
        (
            "from tests.benchmarks.bench_state import x",
            "tests.benchmarks._common",
            ["tests.benchmarks.bench_state"],
        ),
        ("from tests.state.conftest import FakeClock", "tests.state.test_x", ["tests.state.conftest"]),
        ("from tests.conftest import emulator_process", "tests.llm.test_x", ["tests.conftest"]),
        ("def f():\n    from tests.flows.test_cli import rowrelay\n", "tests.x", ["tests.flows.test_cli"]),
        ("from tests.support.runs import run_batch", "tests.llm.test_x", []),
        ("from tests.emulator.contract import Spec", "tests.emulator.test_x", []),
        ("from tests.benchmarks._common import write", "tests.benchmarks.bench_x", []),
        ("from rowrelay.tasks.llm import test_helpers", "tests.llm.test_x", []),
        ("import pytest", "tests.test_x", []),
    ],
)
def test_the_check_finds_every_form_of_import(source: str, importer: str, expected: list[str]) -> None:
    imported = _imported_modules(source, importer)
    assert sorted({m for m in imported if _is_forbidden(m)}) == expected
