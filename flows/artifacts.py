"""Prefect artifacts for a batch: live progress, a summary table, and the failed rows with errors.

Artifacts are per run and coarse (each write is a row in Prefect's database and an API call): one
progress artifact updated in place every few seconds, one summary table, one markdown list of failed
rows (capped), never per-row tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pandas as pd
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)

from rowrelay.tasks.records import rows, usd
from rowrelay.tasks.run import Progress
from rowrelay.tasks.shell_words import shell_arg

log = logging.getLogger("rowrelay.artifacts")
_FAILED_LISTED = 200
_UPDATE_SECONDS = 2.0


class ProgressArtifact:
    """Pushes progress to one Prefect progress artifact, at most every couple of seconds."""

    def __init__(self, artifact_id: UUID | None) -> None:
        self._id = artifact_id
        self._last = 0.0
        self._pending: asyncio.Task[Any] | None = None

    @classmethod
    async def create(cls, batch_id: str) -> ProgressArtifact:
        try:
            artifact_id = await acreate_progress_artifact(0.0, description=f"rowrelay batch {batch_id}")
        except Exception:  # artifacts are a nicety: never fail a batch for one
            log.warning("could not create the progress artifact", exc_info=True)
            return cls(None)
        return cls(artifact_id)

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if self._id is None or now - self._last < _UPDATE_SECONDS or progress.total == 0:
            return
        if self._pending is not None and not self._pending.done():
            return
        self._last = now
        percent = 100.0 * progress.done / progress.total
        self._pending = asyncio.get_running_loop().create_task(self._push(percent, progress))

    async def _push(self, percent: float, progress: Progress) -> None:
        assert self._id is not None
        description = f"{progress.done}/{progress.total} rows done, {progress.in_flight} in flight"
        if progress.spent_usd is not None:
            description += f", {usd(progress.spent_usd)} spent"
            if progress.projected_usd is not None:
                description += f" (~{usd(progress.projected_usd)} projected)"
        with contextlib.suppress(Exception):
            await aupdate_progress_artifact(self._id, percent, description=description)

    async def finish(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending
        if self._id is not None:
            with contextlib.suppress(Exception):
                await aupdate_progress_artifact(self._id, 100.0, description="finished")


async def publish_summary(
    batch_id: str, summary: dict[str, Any], rows: pd.DataFrame, state_dir: Path
) -> None:
    """The summary table and the failed-rows list (from `rows`, the batch's state as the run left it);
    failures to publish are logged, not raised."""
    try:
        await acreate_table_artifact(
            summary_rows(summary), key=_key("summary", batch_id), description="Batch summary"
        )
        markdown = failed_rows_markdown(rows, state_dir)
        if markdown:
            await acreate_markdown_artifact(markdown, key=_key("failed", batch_id), description="Failed rows")
    except Exception:
        log.warning("could not publish the summary artifacts", exc_info=True)


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"metric": f"rows {status}", "value": count} for status, count in summary["counts"].items() if count
    ]
    for name in ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "orphans"):
        rows.append({"metric": name, "value": summary.get(name)})
    for name, count in summary.get("endpoints", {}).items():
        rows.append({"metric": f"rows sent on endpoint {name}", "value": count})
    for name in ("cost_usd", "projected_cost_usd"):
        value = summary.get(name)
        rows.append({"metric": name, "value": None if value is None else round(value, 6)})
    for name in ("latency_p50", "latency_p95"):
        value = summary.get(name)
        rows.append({"metric": f"{name} (s)", "value": None if value is None else round(value, 3)})
    return rows


def failed_rows_markdown(frame: pd.DataFrame, state_dir: Path) -> str:
    failed = frame[~frame["status"].isin(["completed", "pending"])]
    if failed.empty:
        return ""
    lines = [
        f"# {rows(len(failed))} did not complete",
        "",
        "| row | status | attempts | error |",
        "|---|---|---|---|",
    ]
    for row in failed.head(_FAILED_LISTED).itertuples():
        error = str(row.error_message or row.note or "").replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| `{row.row_key}` | {row.status} | {row.attempts} | {error} |")
    if len(failed) > _FAILED_LISTED:
        lines.append(f"\n…and {len(failed) - _FAILED_LISTED} more: `rowrelay status {shell_arg(state_dir)}`")
    return "\n".join(lines)


def _key(kind: str, batch_id: str) -> str:
    """Artifact keys allow lowercase ASCII letters, digits and dashes only: `é` and `✓` are dashes too
    (`isalnum` alone took `é`, and Prefect refused the key: no artifacts, and a traceback every run)."""
    kept = (c if c.isascii() and c.isalnum() else "-" for c in batch_id.lower())
    safe = "".join(kept).strip("-") or "batch"
    return f"rowrelay-{kind}-{safe}"[:100]
