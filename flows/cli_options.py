"""What `run` and `deploy` share: their options' help, the console they speak on, and the request they
build (validated, or exit 2 in one line)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from rowrelay.flows.cli_errors import fail
from rowrelay.tasks.errors import UsageError

if TYPE_CHECKING:
    from rowrelay.flows.request import BatchRequest

err = Console(stderr=True)
# Written to a file or a pipe (a cron job's log, `2> run.log`), a line is one line: rich would cut it at
# 80 columns, and a closing line ran on into the next. A terminal wraps at words, as before.
err.soft_wrap = not err.is_terminal

Opt = typer.Option


def _said_default(default: object) -> str | None:
    """`500`, `2,000,000`, `3,600`, `poll`; None for no default worth saying (None, a flag)."""
    if isinstance(default, bool) or default is None:
        return None
    if isinstance(default, float):
        return f"{default:,g}"
    if isinstance(default, int):
        return f"{default:,}"
    return default if isinstance(default, str) else None


def about(field: str) -> str:
    """An option's help is its setting's description: one text for the CLI, Python and the env var.

    Called when typer reads `run`'s annotations (strings here, by `from __future__ import annotations`),
    so when `run` is built, not when this module is imported."""
    from rowrelay.tasks.settings import Settings

    setting = Settings.model_fields[field]
    # The option's own default is None (the setting decides), so typer cannot show it: say it here.
    default = _said_default(setting.default)
    shown = "" if default is None else f"default {default}; "
    # typer reads help as rich markup: `rowrelay[agents]` would lose its `[agents]` as a style
    return escape(f"{setting.description or ''} ({shown}env ROWRELAY_{field.upper()})")


ENDPOINTS = (
    "A TOML or JSON file listing several endpoints (API keys, base URLs, Azure deployments), each with a "
    "name and its own limits: rows are spread across them by rpm, each with its own budget. Keys stay in "
    "environment variables the entries name (api_key_env)."
)
FAIL_WHEN_FAILED = (
    "End the Prefect flow run Failed (so Prefect's notifications fire) when more rows than this did not "
    "complete: a count N, or a share P% of the rows. Otherwise it ends Completed, with the counts."
)
DASK = (
    "Run the shards on the Dask cluster at this scheduler address, under one rate budget "
    "(needs the dask extra; not with --max-cost, which one process keeps)."
)
LIMIT = (
    "Send at most N rows in this run, the first in input order: a trial whose results the whole batch "
    "keeps (the same command without --limit sends the rest, never these again)."
)
DEPLOY_LIMIT = (
    "Each scheduled run sends at most N rows, the next in input order: a large input drips through, "
    "run by run, and no row is ever sent twice."
)
DASK_WORKERS = (
    "Run the shards on a local Dask cluster of this many worker processes, under one rate budget "
    "(not with --max-cost)."
)


def request_of(input: Path, **options: Any) -> BatchRequest:
    """The run's one validated request; a bad option exits 2 before anything starts."""
    from rowrelay.flows.request import BatchRequest

    try:
        return BatchRequest.build(input, **options)
    except UsageError as exc:
        fail(str(exc))
