"""`rowrelay run` refused as the project's rule says: exit 2, one line on stderr, nothing on stdout, and
no state, output, emulator or Prefect server left behind, in a forked process where Prefect cannot be
imported (`preforked`): a clean refusal proves nothing was sent."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.local_prefect import stopped_afterwards
from tests.support.preforked import Preforked


def refused_line(commands: Preforked, tmp_path: Path, source: Path | str, *options: str) -> str:
    """`rowrelay run source options` (`-`: standard input); asserts it was refused cleanly, nothing
    written; returns its line."""
    home = tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ROWRELAY_", "OPENAI_", "AZURE_"))},
        "ROWRELAY_HOME": str(home),
    }
    state, output = tmp_path / "state", tmp_path / "out.jsonl"
    args = ["run", str(source), "--state", str(state), "--output", str(output), *options]
    with stopped_afterwards(home):  # a regression may get as far as starting a server there
        result = commands.run(args, env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert not state.exists()
    assert not output.exists()
    assert not (home / "emulator.json").exists()
    assert not (home / "prefect-server.json").exists()
    return lines[0]
