"""Every package rowrelay's own code imports is one it declares, so `pip install rowrelay` brings it.

The development environment installs every extra and the dev group, and the packaging test's fresh venv
adds ipykernel for its notebook check: either can bring a package that only arrived with something else
(psutil came with ipykernel and distributed, so `rowrelay services` failed on a plain install). This reads
the imports themselves, so what a transitive dependency happens to bring cannot hide a missing one.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN = {"rowrelay", "flows", "tasks"}


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised (PEP 503)."""
    bare = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {extra: {_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}
    return {_name(r) for r in project["dependencies"]}, extras


def _imports() -> dict[str, set[str]]:
    """Each third-party top-level module the package's sources import, with the files importing it."""
    found: dict[str, set[str]] = {}
    for root in ("flows", "tasks"):
        for source in (ROOT / root).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(), str(source))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OWN:
                        found.setdefault(top, set()).add(str(source.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    base, extras = _declared()
    declared = base.union(*extras.values())
    distributions = importlib.metadata.packages_distributions()
    undeclared = {
        module: sorted(files)
        for module, files in _imports().items()
        if not {_name(d) for d in distributions.get(module, [module])} & declared
    }
    assert not undeclared, f"imported but not in pyproject's dependencies or extras: {undeclared}"


def test_the_scan_sees_the_imports_it_judges() -> None:
    """The check above is only as good as the scan: it must find the base's and the extras' imports."""
    imports = _imports()
    expected = {"psutil", "numpy", "pandas", "prefect", "openai", "agent_framework", "distributed"}
    assert expected <= set(imports)
    assert "flows/services.py" in imports["psutil"]
