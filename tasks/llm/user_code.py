"""The user's own modules (`--agent module:function`, `--schema module:Model`), imported as a server
imports `app:app`: from the working directory first."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


def import_user_module(name: str) -> ModuleType:
    """The user's module, found from the working directory first, as uvicorn finds `app:app`: the
    `rowrelay` script (and `python -P`) leave the working directory off `sys.path`. rowrelay's own
    modules live under `rowrelay.`, so nothing of the user's can shadow them."""
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(name)
