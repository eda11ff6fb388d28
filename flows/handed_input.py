"""An input read and checked before Prefect starts, handed to the flow run the same process starts, so a
run reads its input once.

The CLI, and a call of `run_batch` from Python (flows/batch.py), check the input before Prefect starts (a
bad file is refused in one line, exit 2, before any server starts), and the flow, which a deployment's
worker also starts with no call before it, reads the input itself. Read twice, a 1,000,000-row CSV cost
its run seconds more; handed over in a context variable, the flow run started inside the block takes
the check's reading when it asks for the same file (or DataFrame) read the same way.

    with prepared_input(request, prepared):   # the CLI, or run_batch's check of a call
        await run_batch(...)
    prepared = handed_over(request) or read_it(request)   # the flow
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import pandas as pd

from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.dataset import PreparedInput

__all__ = ["handed_over", "prepared_input"]

_HANDED_OVER: contextvars.ContextVar[tuple[BatchRequest, PreparedInput] | None] = contextvars.ContextVar(
    "rowrelay_prepared_input", default=None
)


@contextlib.contextmanager
def prepared_input(request: BatchRequest, prepared: PreparedInput) -> Iterator[None]:
    """Hand an input already read and checked (the CLI checks it before Prefect starts) to the flow
    run started inside this block, so a run reads its input once."""
    token = _HANDED_OVER.set((request, prepared))
    try:
        yield
    finally:
        _HANDED_OVER.reset(token)


def handed_over(request: BatchRequest) -> PreparedInput | None:
    """The input handed over for this run's request (`prepared_input`), if the block's request reads the
    same file, or the very same DataFrame, the same way; None otherwise. A DataFrame is not read from a
    file, but preparing it (each row's prompt, key and hash) took 1.3 s for 200,000 rows, which a call
    from Python, checked before its flow run (flows/batch.py), would otherwise spend twice."""
    handed = _HANDED_OVER.get()
    if handed is None:
        return None
    given, prepared = handed
    if isinstance(request.source, pd.DataFrame):
        same = given.source is request.source
    else:
        same = isinstance(given.source, str) and given.source == request.source
    return prepared if same and given.spec == request.spec else None
