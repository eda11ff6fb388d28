"""`rowrelay emulator --help` outside a terminal (piped, 80 columns) reads as the main CLI's help does: in a
real process, its descriptions in a column as wide as `rowrelay run --help`'s, nothing cut short.

A trial's `rowrelay emulator --help | cat` squeezed every description into 17 characters ('Interface to /
bind (loopback / unless you say / otherwise).'), `--cancels-at-o…` and `lognormal:MEDIA…` cut."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROWRELAY = Path(sys.executable).with_name("rowrelay")


def _help(*command: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TERMINAL_WIDTH")}
    done = subprocess.run(
        [str(ROWRELAY), *command, "--help"], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return done.stdout.splitlines()


def _description_column(lines: list[str], option: str, starts: str) -> int:
    """Where the description of `option` (its first words, `starts`) begins on its line."""
    [line] = [line for line in lines if line.startswith(f"│ {option} ")]
    assert starts in line, line
    return line.index(starts)


def test_the_emulators_help_is_as_readable_piped_as_the_main_clis() -> None:
    emulator, run = _help("emulator"), _help("run")
    assert max(len(line) for line in emulator) == max(len(line) for line in run) == 80  # not a terminal
    ours = _description_column(emulator, "--host", "Interface to bind (loopback unless")
    theirs = _description_column(run, "--template", "Prompt template")
    assert ours <= theirs + 4, (ours, theirs)  # 80 - 2 - 42: a description gets 36 columns or more
    said = "\n".join(emulator)
    assert "…" not in said  # no option, type or description cut short
    for flag in ("--cancels-later", "--no-emit-queued", "--ignore-background", "--done-sentinel"):
        assert f"│ {flag} " in said, flag
    assert "lognormal:MEDIAN,SIGMA." in said
    assert "Port to listen on (0 to 65535); 0" in said
