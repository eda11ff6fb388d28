"""How long the emulator holds a response: the configured retention, and under the current store policy
a background response created without `store: true` only for its polling window after it ends.

A pure decision of the configuration, the record and its age, apart from the state that acts on it
(service.py forgets a response this says has expired, when it is read, swept or listed), so that the
store policy reads in one place.
"""

from __future__ import annotations

from rowrelay.tasks.emulator.config import EmulatorConfig
from rowrelay.tasks.emulator.timeline import Record

POLLING_WINDOW = 600.0
"""Seconds a background response created without `store: true` is held after it ends, under the current
store policy ("background mode stores response data for roughly 10 minutes to enable polling")."""


def expired(config: EmulatorConfig, record: Record, elapsed: float) -> bool:
    """Whether a response `elapsed` seconds after its creation is past the time it is held."""
    retention = config.retention
    return (retention is not None and elapsed > retention) or _past_polling_window(config, record, elapsed)


def _past_polling_window(config: EmulatorConfig, record: Record, elapsed: float) -> bool:
    """The current store policy (newer versions of OpenAI's background guide): a background response
    created without an explicit `store: true` is held for its polling window after it ends, then
    deleted; with `store: true` it is held for the retention period."""
    if config.store_policy != "current" or not record.background or record.body.get("store") is True:
        return False
    ended = record.finished_after if record.cancelled_after is None else record.cancelled_after
    return ended is not None and elapsed > ended + POLLING_WINDOW
