"""Pictures of a batch, drawn from its state table: latency, completions over time, rows by status.

Each panel is a function that draws one state-table frame (`rowrelay.load(dir)`) on an Axes, a new
one unless you pass yours, so a notebook can show them one at a time; `write_overview` puts the three side by
side in a picture (a PNG, or the format its suffix names: tasks/plot_files.py), readable mid-run from any
process:

    from rowrelay.tasks.plots import write_overview
    write_overview(Path("data/state/demo-tickets"), Path("overview.png"))

Figures are built with matplotlib's object API and rendered by the Agg canvas, never through `pyplot`:
no global backend switch (a notebook keeps its inline backend), no display needed, no figure registry to
leak from a long-running process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pandas as pd

from rowrelay.tasks.errors import MissingExtraError, UsageError
from rowrelay.tasks.plot_files import plot_file_problem, plot_format
from rowrelay.tasks.records import ROW_STATUSES

try:
    import matplotlib as mpl
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
except ImportError as exc:  # an optional extra: say which, rather than a bare ModuleNotFoundError
    raise MissingExtraError("plots", "plots") from exc
from rowrelay.tasks.state import load

__all__ = ["latencies", "latency_ax", "overview", "status_ax", "timeline_ax", "write_overview"]

_FONT: dict[Any, Any] = {
    "font.size": 13,
    "axes.titlesize": 15,
    "axes.titleweight": "bold",
    "axes.labelsize": 13,
    "legend.fontsize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_COLOURS = {"completed": "#2e7d32", "failed": "#c62828", "cancelled": "#757575", "incomplete": "#ef6c00"}
_OTHER = "#1565c0"
P = ParamSpec("P")
R = TypeVar("R")


def _styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Draw under the house style (larger fonts, no top/right spines) without touching global rcParams."""

    @functools.wraps(draw)
    def styled(*args: P.args, **kwargs: P.kwargs) -> R:
        with mpl.rc_context(_FONT):
            return draw(*args, **kwargs)

    return styled


def latencies(frame: pd.DataFrame) -> pd.Series:
    """Seconds from submit until the run saw the row completed (so polling's cadence shows), one value
    per completed row; rows missing a time are skipped."""
    done = frame[frame["status"] == "completed"]
    return (done["completed_at"] - done["submitted_at"]).dt.total_seconds().dropna()


def _axes(ax: Axes | None, size: tuple[float, float] = (5.5, 4.0)) -> Axes:
    """`ax`, or a new one; its y axis counts rows, so its ticks are whole numbers (a batch of two rows was
    drawn with ticks at 0.5 and 1.5 rows)."""
    if ax is None:
        figure = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return ax


def _empty(ax: Axes, message: str) -> Axes:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#757575")
    return ax


@_styled
def latency_ax(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Histogram of completed rows' latency in seconds, with the median and p95 marked."""
    ax = _axes(ax)
    ax.set(
        title="Latency of completed rows", xlabel="seconds from submit until seen completed", ylabel="rows"
    )
    seconds = latencies(frame)
    if seconds.empty:
        return _empty(ax, "no completed rows yet")
    # Latencies alike to the millisecond (a fixed-latency server, a handful of rows) were binned over
    # their own spread: ticks every 0.0001 s, their labels running together. The range is at least a
    # tenth of the slowest row wide.
    low, high = float(seconds.min()), float(seconds.max())
    half = max(high - low, 0.1 * high, 0.001) / 2
    middle = (low + high) / 2
    bins = min(40, max(5, len(seconds) // 5))
    ax.hist(seconds, bins=bins, range=(middle - half, middle + half), color=_OTHER, alpha=0.85)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # labels of a narrow range are long: fewer of them
    for quantile, style in ((0.5, "-"), (0.95, "--")):
        value = float(seconds.quantile(quantile))
        label = f"p{round(quantile * 100)} {value:.2f} s"
        ax.axvline(value, color="#212121", linestyle=style, linewidth=1.5, label=label)
    ax.legend(frameon=False)
    return ax


@_styled
def timeline_ax(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Cumulative completed rows against time since the batch's first submit (seconds or minutes)."""
    ax = _axes(ax)
    ax.set(title="Completions over time", ylabel="rows completed")
    done = frame.loc[frame["status"] == "completed", "completed_at"].dropna().sort_values()
    start = frame["submitted_at"].min()
    if done.empty or pd.isna(start):
        ax.set_xlabel("time since the first submit")
        return _empty(ax, "no completed rows yet")
    elapsed = (done - start).dt.total_seconds().to_numpy()
    minutes = elapsed.max() >= 120
    x = elapsed / 60 if minutes else elapsed
    ax.step([0.0, *x], range(len(x) + 1), where="post", color=_COLOURS["completed"], linewidth=2)
    ax.axhline(len(frame), color="#9e9e9e", linestyle=":", linewidth=1.2, label=f"{len(frame)} rows")
    ax.set_xlabel(f"{'minutes' if minutes else 'seconds'} since the first submit")
    ax.set_xlim(left=0)
    ax.set_ylim(0, len(frame) * 1.05)
    ax.legend(frameon=False, loc="lower right")
    return ax


@_styled
def status_ax(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Bar chart of rows by status (statuses no row holds are left out), each bar labelled."""
    ax = _axes(ax)
    ax.set(title="Rows by status", ylabel="rows")
    counts = frame["status"].value_counts()
    names = [s for s in ROW_STATUSES if counts.get(s, 0)]
    if not names:
        return _empty(ax, "no rows")
    bars = ax.bar(names, [int(counts[s]) for s in names], color=[_COLOURS.get(s, _OTHER) for s in names])
    ax.bar_label(bars, padding=2)
    ax.set_ylim(0, int(counts.max()) * 1.15)
    return ax


@_styled
def overview(frame: pd.DataFrame, title: str | None = None) -> Figure:
    """The three panels side by side in one figure."""
    figure = Figure(figsize=(15, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    left, middle, right = figure.subplots(1, 3, width_ratios=[1.1, 1.1, 0.9])
    latency_ax(frame, left)
    timeline_ax(frame, middle)
    status_ax(frame, right)
    if title:
        figure.suptitle(title, fontsize=15)
    return figure


def write_overview(state_dir: Path, path: Path) -> Path:
    """Draw the batch in `state_dir` (mid-run is fine) as one picture at `path`, in the format its suffix
    names (`PLOT_SUFFIXES`; no suffix: a PNG under that very name); returns the path.

    Raises `UsageError` for a path it would not write (a directory, a suffix naming no format written, a
    parent that is a file or cannot be written in), before drawing; an `OSError` of the write itself
    passes through."""
    path = Path(path)
    problem = plot_file_problem(path)
    if problem is not None:  # matplotlib's own errors said "Format 'xyz' is not supported" in a traceback
        raise UsageError(f"{path}: {problem}")
    frame = load(Path(state_dir))
    seconds = latencies(frame)
    title = f"batch {Path(state_dir).name}: {len(frame)} rows"
    if not seconds.empty:
        title += f", latency p50 {seconds.median():.2f} s"
    figure = overview(frame, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The format named, never guessed: matplotlib adds `.png` to a name without a suffix, so `status`
    # said it wrote `noext` where `noext.png` was written.
    figure.savefig(path, dpi=110, format=plot_format(path))
    return path
