"""A batch's output, written from the state table's rows of the input: at a run's end, and at a stop
that came after rows were sent (`stopped_output`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rowrelay.flows.precheck import columns_asked
from rowrelay.flows.processing import whole
from rowrelay.tasks.dataset import PreparedInput
from rowrelay.tasks.errors import OutputWriteError
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable, of_input
from rowrelay.tasks.state.left_out import keys_outside
from rowrelay.tasks.steps import export_results

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from rowrelay.tasks.llm.structured import OutputSchema

__all__ = ["exported", "rows_of_input"]


def rows_of_input(table: StateTable, prepared: PreparedInput) -> tuple[pa.Table, pa.Array[Any] | None]:
    """The latest state of the input's rows, and the keys of the table's rows outside the input (None
    when there are none)."""
    latest = table.latest()
    if len(table) > len(prepared):  # the plan added every input key: only then can rows be outside it
        return of_input(latest, prepared.keys), keys_outside(latest, prepared.keys)
    return latest, None


def exported(
    latest: pa.Table,
    prepared: PreparedInput,
    out: Path,
    settings: Settings,
    output_schema: OutputSchema | None,
    state_dir: Path,
) -> pd.DataFrame:
    """Write the output of the input's rows (`latest`); returns them as the frame written."""
    frame = latest.to_pandas()
    schema = None if output_schema is None else output_schema.schema
    try:
        export_results(whole(frame), whole(prepared), out, whole(schema), columns_asked(settings))
    except OutputWriteError as exc:  # said with the batch's own state directory, from Python too
        raise type(exc)(exc.path, exc.reason, state=state_dir) from exc
    return frame
