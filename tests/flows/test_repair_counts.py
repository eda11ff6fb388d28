"""What `rowrelay repair` counts of rows whose lost version cannot be read: a torn segment that held the
only response ids of 2 rows, or the latest versions of 7, read as "0 rows ... lose their latest version,
0 were in flight, 0 of them may have a job on the server", and the next run sent them again (counted as
orphans: the report was the one wrong)."""

from __future__ import annotations

import os
from pathlib import Path

from rowrelay.tasks.state import StateTable
from rowrelay.tasks.state.files import SEGMENTS
from tests.support.cli import rowrelay
from tests.support.damage import planned_batch, truncate

ENV = dict(os.environ)


def _listed(report: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:4] for line in report.splitlines() if line.startswith("  T-")}


def test_rows_whose_only_response_ids_were_torn_are_counted_as_may_have_a_job(tmp_path: Path) -> None:
    _, state, [_, last] = planned_batch(tmp_path)
    ids = state / SEGMENTS / "main-0000000003.parquet"  # T-00000 and T-00001 queued: resp-0, resp-1
    for path in (ids, last):
        truncate(path)
    result = rowrelay(["repair", str(state)], ENV)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        "6 rows may have lost their latest version to what cannot be read: 0 no readable file holds, " in said
    )
    assert (
        "(2 `submitting`: a create went out, whose response id the lost version may have held); any of them "
        in said
    )
    listed = _listed(result.stdout)
    assert listed["T-00000"] == listed["T-00001"] == ["?", "->", "submitting"]
    # What the next run makes of them: each a create that may have started a job, counted on its row.
    with StateTable.open(state) as table:
        for key in ("T-00000", "T-00001"):
            row = table.get(key)
            assert (row.status, row.orphans) == ("orphaned", 1), key


def test_a_single_torn_segment_names_every_row_whose_latest_version_it_may_have_held(tmp_path: Path) -> None:
    _, state, [_, last] = planned_batch(tmp_path)
    truncate(last)  # T-00000 in_progress, T-00001 completed, T-00002 submitting: their latest versions
    result = rowrelay(["repair", str(state), "--dry-run"], ENV)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        "6 rows may have lost their latest version to what cannot be read: 0 no readable file holds, 6 "
        in said
    )
    assert "0 rows lose their latest version" not in said
    listed = _listed(result.stdout)
    assert {key: listed[key] for key in ("T-00000", "T-00001", "T-00002")} == {
        "T-00000": ["?", "->", "queued"], "T-00001": ["?", "->", "queued"], "T-00002": ["?", "->", "pending"],
    }  # fmt: skip
