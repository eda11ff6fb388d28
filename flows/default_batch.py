"""Which batch `rowrelay status | export | cancel | retry` mean when no STATE is given: the batches `run`
made here under its default state directory (`ROWRELAY_STATE_DIR`, else `data/state`), as a user who
has just run one expects (`rowrelay status` after `rowrelay run tickets.csv ...`).

Reading is safe on a guess, so `status` and `export` take the batch run last and say which it is.
`cancel` and `retry` change a batch: they take one only when it is the only one, and otherwise list them.
Read from the environment here, not through the settings' model: `status` must not import it (its
start-up is pinned by tests/flows/test_cli_imports.py), and the variable is its only source.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rowrelay.flows.cli_errors import fail
from rowrelay.tasks.records import DEFAULT_STATE_DIR

_LISTED = 5


def state_root() -> Path:
    """`Settings.state_dir`, as the settings read it (ROWRELAY_STATE_DIR, else the default)."""
    return Path(os.environ.get("ROWRELAY_STATE_DIR") or DEFAULT_STATE_DIR)


def the_batch(state: Path | None, command: str, *, changes_it: bool = False) -> Path:
    """`state` as given; else the batch under the default state directory run last (`changes_it`: the
    only one there), said on stderr; exit 2 in one line when there is none to take."""
    if state is not None:
        return state
    root = state_root()
    batches = sorted(_batches(root), key=_last_run, reverse=True)
    if not batches:
        fail(f"no batch under {root} here: name its state directory (`rowrelay {command} STATE`)")
    if len(batches) > 1 and changes_it:
        names = ", ".join(str(batch) for batch in batches[:_LISTED])
        more = f" and {len(batches) - _LISTED} more" if len(batches) > _LISTED else ""
        fail(
            f"{len(batches)} batches under {root}: name the one to {command} "
            f"(`rowrelay {command} STATE`): {names}{more}"
        )
    chosen = batches[0]
    if len(batches) > 1:
        print(
            f"batch {chosen}, the last run of {len(batches)} under {root} "
            f"(`rowrelay {command} STATE` names another)",
            file=sys.stderr,
        )
    return chosen


def _batches(root: Path) -> list[Path]:
    from rowrelay.tasks.state import BATCH_FILE  # the table's package imports Arrow: not for `--help`

    try:
        return [entry for entry in root.iterdir() if (entry / BATCH_FILE).is_file()]
    except OSError:  # no such directory (nothing run here yet), or not one
        return []


def _last_run(batch: Path) -> float:
    """When a run last started on the batch: its `run.json` is written at each run's start."""
    from rowrelay.tasks.state import BATCH_FILE, RUN_FILE

    for name in (RUN_FILE, BATCH_FILE):
        try:
            return (batch / name).stat().st_mtime
        except OSError:
            continue
    return 0.0
