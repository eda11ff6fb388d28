"""The batch overview picture, drawn from a state table written by the runner against the emulator."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle
from typer.testing import CliRunner, Result

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.plot_files import PLOT_SUFFIXES
from rowrelay.tasks.plots import latencies, latency_ax, status_ax, timeline_ax, write_overview
from rowrelay.tasks.state import load
from tests.support.cli import ROOT
from tests.support.runs import run_batch

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 rows, a few of them failed: every panel has something to draw (read-only for the tests)."""
    config = EmulatorConfig(latency=LatencySpec.parse("uniform:0.02,0.2"), fail_rate=0.3, seed=5)
    directory = tmp_path_factory.mktemp("plots") / "batch"
    with running_emulator(config) as emu:
        asyncio.run(run_batch(emu, directory, rows=40, max_attempts=1))
    return directory


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE
    assert header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_write_overview_writes_one_wide_png(state_dir: Path, tmp_path: Path) -> None:
    path = write_overview(state_dir, tmp_path / "pictures" / "overview.png")
    assert path == tmp_path / "pictures" / "overview.png"
    width, height = png_size(path)
    assert 1200 <= width <= 2400
    assert 350 <= height <= width / 2
    assert path.stat().st_size > 20_000  # three drawn panels, not a blank canvas


def test_the_panels_draw_what_the_table_holds(state_dir: Path) -> None:
    frame = load(state_dir)
    counts = frame["status"].value_counts()
    assert set(counts.index) == {"completed", "failed"}
    bars = status_ax(frame)
    assert [t.get_text() for t in bars.get_xticklabels()] == ["completed", "failed"]
    rectangles = [p for p in bars.patches if isinstance(p, Rectangle)]
    assert rectangles == list(bars.patches)  # a bar chart draws bars only
    assert [r.get_height() for r in rectangles] == [counts["completed"], counts["failed"]]
    steps = timeline_ax(frame).get_lines()[0]
    assert np.asarray(steps.get_ydata())[-1] == counts["completed"]
    assert len(latencies(frame)) == counts["completed"]
    assert latency_ax(frame).get_legend() is not None


def test_panels_of_a_batch_with_nothing_completed_say_so() -> None:
    frame = pd.DataFrame(
        {"status": ["pending", "queued"], "submitted_at": [pd.NaT, pd.NaT], "completed_at": [pd.NaT, pd.NaT]}
    )
    texts = [t.get_text() for ax in (latency_ax(frame), timeline_ax(frame)) for t in ax.texts]
    assert texts == ["no completed rows yet", "no completed rows yet"]
    assert len(status_ax(frame).patches) == 2


def test_latencies_alike_to_the_millisecond_get_an_axis_a_tenth_of_their_size_wide() -> None:
    """Three rows of a fixed-latency server (0.1999 to 0.2006 s) were binned over their own spread:
    ticks every 0.0001 s, whose labels ran together."""
    start = pd.Timestamp("2026-12-05 04:00:00", tz="UTC")
    seconds = [0.1999, 0.2003, 0.2006]
    frame = pd.DataFrame(
        {
            "status": ["completed"] * 3,
            "submitted_at": [start] * 3,
            "completed_at": [start + pd.Timedelta(seconds=s) for s in seconds],
        }
    )
    ax = latency_ax(frame)
    low, high = ax.get_xlim()
    assert high - low >= 0.02  # a tenth of the slowest row at least
    assert len([tick for tick in ax.get_xticks() if low <= tick <= high]) <= 6  # labels with room
    assert low < min(seconds)
    assert max(seconds) < high


def test_row_counts_are_ticked_in_whole_rows() -> None:
    """Two failed rows were drawn against ticks at 0.5 and 1.5 rows."""
    frame = pd.DataFrame(
        {"status": ["failed", "failed"], "submitted_at": [pd.NaT, pd.NaT], "completed_at": [pd.NaT, pd.NaT]}
    )
    for ax in (latency_ax(frame), timeline_ax(frame), status_ax(frame)):
        ticks = [tick for tick in ax.get_yticks() if ax.get_ylim()[0] <= tick <= ax.get_ylim()[1]]
        assert ticks, ax.get_title()
        assert all(float(tick).is_integer() for tick in ticks), (ax.get_title(), ticks)


def test_status_plot_prints_the_counts_and_where_it_wrote_the_picture(
    state_dir: Path, tmp_path: Path
) -> None:
    from rowrelay.flows.cli import app

    target = tmp_path / "status.png"
    result = CliRunner().invoke(app, ["status", str(state_dir), "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output
    assert f"wrote {target}" in result.output.replace("\n", "")
    assert png_size(target)[0] >= 1200


def _status_with_plot(state_dir: Path, plot: Path, *more: str) -> Result:
    from rowrelay.flows.cli import app

    return CliRunner().invoke(app, ["status", str(state_dir), "--plot", str(plot), *more])


@pytest.mark.parametrize("as_json", [False, True])
def test_status_refuses_a_plot_it_could_not_write_before_printing_anything(
    state_dir: Path, tmp_path: Path, as_json: bool
) -> None:
    """Each printed the status, then matplotlib's 55-70 line traceback, and exited 1: a script reading
    `--json` got the object followed by the traceback. Now: exit 2, one line naming --plot, nothing on
    stdout, nothing written."""
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "somefile.json").write_text("{}")
    refused = {
        tmp_path / "x.xyz": "no picture format is written under '.xyz': name a .png, .svg, .pdf, .jpg, "
        ".jpeg, .webp, .tif, .tiff, .eps or .ps file (a name without a suffix is a PNG)",
        Path("/proc/x.png"): "cannot write in /proc (No such file or directory)",
        tmp_path / "somefile.json" / "x.png": f"{tmp_path / 'somefile.json'} is not a directory",
        tmp_path
        / "a-folder": f"is a directory; name a file in it, such as {tmp_path / 'a-folder' / 'overview.png'}",
    }
    for plot, problem in refused.items():
        result = _status_with_plot(state_dir, plot, *(["--json"] if as_json else []))
        assert (result.exit_code, result.stdout, result.stderr) == (
            2,
            "",
            f"error: --plot {plot}: {problem}\n",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder", "somefile.json"]
    assert list((tmp_path / "a-folder").iterdir()) == []


def test_write_overview_refuses_a_suffix_it_does_not_write_before_drawing(
    state_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=r"x\.xyz: no picture format is written under '\.xyz'"):
        write_overview(state_dir, tmp_path / "x.xyz")


def test_a_write_that_fails_is_one_line_naming_plot(state_dir: Path, tmp_path: Path) -> None:
    """What no check before the status can know (here a name longer than the filesystem takes) is said
    after it, in one line, where it was a traceback."""
    plot = tmp_path / f"{'y' * 300}.png"
    result = _status_with_plot(state_dir, plot)
    assert result.exit_code == 2
    assert "completed" in result.stdout
    assert result.stderr == f"error: --plot {plot}: cannot write it (File name too long)\n"


def test_a_plot_named_without_a_suffix_is_a_png_under_that_very_name(state_dir: Path, tmp_path: Path) -> None:
    """`status` said `wrote noext` where matplotlib wrote `noext.png`."""
    plot = tmp_path / "noext"
    result = _status_with_plot(state_dir, plot)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith(f"wrote {plot}\n")
    assert png_size(plot)[0] >= 1200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noext"]


def test_the_plot_is_written_in_the_format_its_suffix_names_as_the_help_says(
    state_dir: Path, tmp_path: Path
) -> None:
    """The help said "into this PNG" while `--plot p.jpg` wrote a JPEG: it lists what is written."""
    from rowrelay.flows.cli import app

    assert {s.removeprefix(".") for s in PLOT_SUFFIXES} <= set(FigureCanvasAgg.get_supported_filetypes())
    shown = CliRunner().invoke(app, ["status", "--help"])
    said = " ".join(shown.stdout.replace("│", " ").split())  # the help box's lines, as one text
    assert (
        "in the format its suffix names (.png, .svg, .pdf, .jpg, .jpeg, .webp, .tif, .tiff, .eps or .ps)"
        in said
    )
    assert "a name without a suffix is a PNG" in said
    magic = {"p.JPG": b"\xff\xd8\xff", "p.svg": b"<?xml", "p.pdf": b"%PDF-", "p.tiff": b"II*\x00"}
    for name, starts in magic.items():
        result = _status_with_plot(state_dir, tmp_path / name)
        assert result.exit_code == 0, result.stderr
        assert (tmp_path / name).read_bytes().startswith(starts), name


_WITHOUT_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None  # as where the plots extra is not installed: its import fails
sys.argv[0] = "rowrelay"
from rowrelay.flows.cli import app
app()
"""


def test_status_without_the_plots_extra_says_so_before_printing_the_status(
    state_dir: Path, tmp_path: Path
) -> None:
    """It printed the status, then a traceback ending in the MissingExtraError's message (exit 1)."""
    plot = tmp_path / "o.png"
    command = [sys.executable, "-P", "-c", _WITHOUT_MATPLOTLIB, "status", str(state_dir), "--plot", str(plot)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr == "error: plots need rowrelay's optional extra: pip install 'rowrelay[plots]'\n"
    assert not plot.exists()
