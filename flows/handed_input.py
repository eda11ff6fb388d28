"""An input read and checked before Prefect starts, handed to the flow run the same process starts, so a
run reads its input once.

The CLI checks the input before it starts Prefect (a bad file is refused in one line, exit 2, before any
server starts), and the flow, which a deployment's worker also starts with no CLI before it, reads the
input itself. Read twice, a 1,000,000-row CSV cost its run seconds more; handed over in a context
variable, the flow run started inside the block takes the CLI's reading when it asks for the same file
read the same way.

    with prepared_input(request, prepared):   # the CLI
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
    same file the same way; None otherwise (a DataFrame is read from itself, at no cost)."""
    handed = _HANDED_OVER.get()
    if handed is None or isinstance(request.source, pd.DataFrame):
        return None
    given, prepared = handed
    same = isinstance(given.source, str) and given.source == request.source and given.spec == request.spec
    return prepared if same else None
