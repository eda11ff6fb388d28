"""The suite's own freeze of its heap (tests/conftest.py) set aside for a test of the runner's freezing,
and given back after: a test that unfroze it and left it so left every later test in its worker
collecting the whole collected suite again at each full collection."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def suite_freeze_set_aside() -> Iterator[None]:
    """A heap nothing froze for the body; after it, the suite's freeze as it was (if there was one)."""
    suite_froze = gc.get_freeze_count() > 0
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()  # whatever the body left frozen goes back to the collector first
        if suite_froze:
            gc.collect()  # garbage the test made is freed, not frozen
            gc.freeze()
