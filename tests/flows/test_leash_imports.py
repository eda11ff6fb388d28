"""`flows/leash.py` starts before the command it leashes, so it imports the standard library alone, and
`flows/interpreter.py`, where the choice of interpreter and `-P` is made for every process rowrelay
starts (the leash's command included)."""

from __future__ import annotations

import json
import subprocess
import sys

from rowrelay.flows.interpreter import python
from rowrelay.flows.leash import leashed
from tests.support.cli import ROOT

_LOADED = """
import json, sys
before = set(sys.modules)
import rowrelay.flows.leash
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_leash_imports_the_standard_library_and_rowrelays_interpreter_choice_alone() -> None:
    found = subprocess.run(python("-c", _LOADED), cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(json.loads(found.stdout))
    ours = {name for name in loaded if name.partition(".")[0] == "rowrelay"}
    assert ours == {"rowrelay", "rowrelay.flows", "rowrelay.flows.interpreter", "rowrelay.flows.leash"}
    others = {name.partition(".")[0] for name in loaded - ours} - set(sys.stdlib_module_names)
    assert not others, others
    assert leashed(["true"])[: len(python())] == python()
