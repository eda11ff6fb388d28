"""`TableOptions`: how a `StateTable` checkpoints, leases and recovers, fixed when it is opened."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rowrelay.tasks.records import DEFAULT_MAX_ATTEMPTS
from rowrelay.tasks.state.orphans import OrphanPolicy

__all__ = ["TableOptions"]


@dataclass(frozen=True, slots=True)
class TableOptions:
    """The knobs of one open table (see `StateTable.open`, which takes them as keyword arguments).

    `lease_timeout`: seconds without a heartbeat after which another runner may take the lease over.
    `checkpoint_interval`, `checkpoint_rows`: a group commit writes at most every `checkpoint_interval`
    seconds, or at once when `checkpoint_rows` rows are waiting. `orphan_policy`: what becomes of a
    `submitting` row whose runner died with no response id; `max_attempts`: the run's attempt budget, which
    recovering such a row spends from (its note says whether it will be sent again). `clock`: epoch
    seconds (tests pass a fake).
    """

    lease_timeout: float = 60.0
    checkpoint_interval: float = 0.2
    checkpoint_rows: int = 1000
    orphan_policy: OrphanPolicy = "resubmit"
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    clock: Callable[[], float] = time.time
