"""Where the overview picture (tasks/plots.py) can be written, and in which format: read from the path
alone, without matplotlib, so `rowrelay status --plot` refuses a path it could not write before it prints
anything, and `rowrelay status --help` lists the formats without importing matplotlib.

The suffix picks the format, as matplotlib's own `savefig` does; a name without a suffix is a PNG written
under that very name (matplotlib would have added `.png`, and `status` said it wrote the name given).
"""

from __future__ import annotations

import os
from pathlib import Path

from rowrelay.tasks.durable import writable_problem

__all__ = ["PLOT_SUFFIXES", "plot_file_problem", "plot_format", "plot_formats_said"]

PLOT_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".svg",
    ".pdf",
    ".jpg",
    ".jpeg",
    ".webp",
    ".tif",
    ".tiff",
    ".eps",
    ".ps",
)
"""The suffixes the overview is written under, each in the format it names: what matplotlib's Agg canvas
writes with nothing else installed (its `.pgf` needs LaTeX, its `.raw`/`.rgba` are bare pixels no viewer
opens, and `.gif`/`.avif` come and go with the matplotlib and Pillow versions)."""


def plot_formats_said() -> str:
    """The formats as the help and the refusals say them: `.png, .svg, ... or .ps`."""
    return f"{', '.join(PLOT_SUFFIXES[:-1])} or {PLOT_SUFFIXES[-1]}"


def plot_format(path: Path) -> str:
    """The format the picture at `path` is written in, as matplotlib names it: the suffix's, or `png`."""
    return path.suffix.lower().removeprefix(".") or "png"


def plot_file_problem(path: Path) -> str | None:
    """Why the picture could not be written at `path` (a directory there, a suffix that names no format
    written, a parent that is a file or a folder that cannot be written in), or None if it can: checked
    before anything is drawn or printed. Missing parent folders are made when it is written."""
    # os.path.isdir, not Path.is_dir: a name too long for the filesystem is an OSError that only the
    # write itself should report.
    if os.path.isdir(path):  # noqa: PTH112
        return f"is a directory; name a file in it, such as {path / 'overview.png'}"
    if path.suffix and path.suffix.lower() not in PLOT_SUFFIXES:
        return (
            f"no picture format is written under {path.suffix!r}: name a {plot_formats_said()} file "
            "(a name without a suffix is a PNG)"
        )
    return writable_problem(path.parent)
