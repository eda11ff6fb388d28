"""Earlier runs' lost creates under this run's cost cap: each row's `orphans` at the estimate this run
gives a create of that row (`Spend.count_orphans`), counted before the run's first create; the same figures
say, at the run's end, what the rows it sent again may have cost twice (`flows.run_orphans`)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.run.context import RowContext
from rowrelay.tasks.state import StateTable

__all__ = ["count_earlier_orphans", "orphans_of"]


def count_earlier_orphans(context: RowContext) -> None:
    """Count the batch's earlier lost creates against `context.spend`'s cap, and for the run's closing line
    on rows it sends again (nothing without a price: no estimate to give them)."""
    if context.spend.rates is None:
        return  # no price, no estimate: the table is not read

    def prompt_tokens(key: str) -> int:
        # As the create path estimates a row (`submit`): its prompt, and its attachments as learned so far.
        try:
            prompt = context.prompts(key)
            attached = () if context.attachments is None else context.attachments(key)
        except KeyError:
            return 0  # a row no longer in the input: its output estimate alone, never nothing
        return context.text_tokens(prompt) + context.attached_tokens.value(attached)

    context.spend.count_orphans(orphans_of(context.table), prompt_tokens, context.budget.output.value())


def orphans_of(table: StateTable) -> dict[str, int]:
    """Each row's creates whose answers were lost, in any run (`orphans`), for rows that have any."""
    columns = table.columns(None, ("row_key", "orphans"))
    some = columns.filter(pc.greater(columns.column("orphans"), pa.scalar(0)))
    return {str(row["row_key"]): int(row["orphans"]) for row in some.to_pylist()}
