"""Commands run as a user whom file modes bind: root reads any file whatever its mode."""

from __future__ import annotations

import os
import shutil

import pytest


def unprivileged(command: list[str]) -> list[str]:
    """`command` as run by a user who may read only what the modes allow: as it is for anyone but root;
    for root, under `setpriv` without the capabilities that let it read past them (skipped without it)."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("run as root without setpriv: file modes cannot be made to bind")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
