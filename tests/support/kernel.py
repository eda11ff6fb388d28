"""A real Jupyter kernel (this venv's python), driven cell by cell: for behaviour that is the kernel's own,
such as what an interrupted cell shows."""

from __future__ import annotations

import contextlib
import json
import queue
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

_SPEC = "rowrelay-test"


@dataclass
class Cell:
    """What one executed cell showed: its streams, its result, and its error (`ename`, `evalue` and the
    `traceback` lines the notebook shows), if it ended in one."""

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    error: dict[str, Any] | None = None
    shown: list[str] = field(default_factory=list)
    """Every line the notebook shows for the cell, in order (streams, result and error)."""


class Kernel:
    """A started kernel and its client. `start` sends a cell; `finish` collects it once the kernel is
    idle again; `run` does both."""

    def __init__(self, manager: KernelManager) -> None:
        self.manager = manager
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    @property
    def pid(self) -> int:
        provisioner = self.manager.provisioner
        assert provisioner is not None
        return int(provisioner.process.pid)  # type: ignore[attr-defined]  # the local provisioner's

    def start(self, code: str) -> str:
        return str(self.client.execute(code))

    def finish(self, msg_id: str, within: float = 240) -> Cell:
        cell = Cell()
        while True:
            try:
                message = self.client.get_iopub_msg(timeout=within)
            except queue.Empty:
                raise AssertionError(f"the cell did not end within {within} s: {cell}") from None
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                setattr(cell, content["name"], getattr(cell, content["name"]) + content["text"])
                cell.shown.extend(content["text"].splitlines())
            elif kind == "execute_result":
                cell.result = content["data"]["text/plain"]
                cell.shown.extend(str(cell.result).splitlines())
            elif kind == "error":
                cell.error = content
                cell.shown.extend(line for entry in content["traceback"] for line in entry.splitlines())
            elif kind == "status" and content["execution_state"] == "idle":
                return cell

    def run(self, code: str, within: float = 240) -> Cell:
        return self.finish(self.start(code), within)

    def interrupt(self) -> None:
        """What the notebook's Interrupt button does: the kernel gets SIGINT."""
        self.manager.interrupt_kernel()


@contextlib.contextmanager
def jupyter_kernel(env: dict[str, str], cwd: Path, spec_dir: Path) -> Iterator[Kernel]:
    """A kernel of this venv's python (a spec written under `spec_dir`), in `cwd`, with `env` alone."""
    spec = spec_dir / _SPEC
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": _SPEC, "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir)], ensure_native_kernel=False)
    manager = KernelManager(kernel_name=_SPEC, kernel_spec_manager=specs)
    manager.start_kernel(env=env, cwd=str(cwd))
    kernel = None
    try:
        kernel = Kernel(manager)
        yield kernel
    finally:
        if kernel is not None:
            kernel.client.stop_channels()
        manager.shutdown_kernel(now=True)
