"""A model with no known price, said once per batch: at the first run that meets it, not at every run.

A run prices its rows from the price table; a model it has no price for (a self-hosted one on vLLM or
Ollama, a model newer than the table, an Azure deployment not named in a price file) gets no `cost_usd`,
and the run says so before it sends anything, with the price file entry to add (`unpriced_warning`):
what a user of a billed model needs before money is spent. A self-hosted model costs nothing per token,
and its batch was told the same at every run of the same command (each resume, each scheduled run). So
the batch's `run.json` keeps what was said (`RunRecord.unpriced_said`, kept by its later runs as
`streams_cut` is) and a later run of it says it no more: the closing summary's `cost: unknown` and
`rowrelay status` still say the cost is unknown, every run. Another model, or another endpoint's, is
said at its own first run. With `--max-cost` such a model is refused before anything starts, every time
(`prices.cap_problem`): the warning is only ever said without a cap.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path

from rowrelay.tasks.errors import StateError
from rowrelay.tasks.llm.prices import Provider, Tier, unpriced_head, unpriced_warning
from rowrelay.tasks.state import RunRecord, write_run_record

__all__ = ["say_unpriced"]

log = logging.getLogger("rowrelay.flow")

Unpriced = tuple[Provider, str, Tier, str | None]
"""What a session prices its rows at, when the table has no price for it: provider, model, tier, and
the endpoint it serves (None without `--endpoints`)."""


def say_unpriced(directory: Path, unpriced: Iterable[Unpriced], record: RunRecord | None) -> None:
    """Warn of each model with no price that no earlier run of the batch at `directory` said (its `record`,
    as this run wrote it), and note it in its `run.json`; one said before is logged at INFO only. Without
    a record, each is said."""
    said = set(record.unpriced_said or ()) if record is not None else set()
    new = []
    for provider, model, tier, endpoint in unpriced:
        head = unpriced_head(provider, model, tier, endpoint)
        if head in said:
            log.info("%s: said at an earlier run of this batch; its rows get no cost_usd", head)
            continue
        log.warning(unpriced_warning(provider, model, tier, endpoint))
        new.append(head)
    if record is None or not new:
        return
    noted = [*(record.unpriced_said or []), *new]
    try:
        write_run_record(directory, dataclasses.replace(record, unpriced_said=noted))
    except (OSError, StateError) as exc:  # the run goes on; its next run says it again
        log.warning("could not note the model with no price in the batch's run.json (%s)", exc)
