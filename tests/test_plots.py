"""The batch overview picture, drawn from a state table written by the runner against the emulator."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.plots import latencies, latency_ax, status_ax, timeline_ax, write_overview
from rowrelay.tasks.state import load
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
    from typer.testing import CliRunner

    from rowrelay.flows.cli import app

    target = tmp_path / "status.png"
    result = CliRunner().invoke(app, ["status", str(state_dir), "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output
    assert f"wrote {target}" in result.output.replace("\n", "")
    assert png_size(target)[0] >= 1200
