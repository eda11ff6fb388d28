"""`help(rowrelay.run_batch)` is of use to a notebook user who installed the wheel: it said `source` is a
CSV/Parquet/JSONL path (JSON and TSV are read too), described none of the arguments to give first, and
pointed to source files such a user does not have (`tasks/dataset/media.py`, `flows/outcome.py`)."""

from __future__ import annotations

import pydoc
import re

import rowrelay
from rowrelay.tasks.dataset import INPUT_EXTENSIONS


def _help() -> str:
    return pydoc.plain(pydoc.render_doc(rowrelay.run_batch))  # as help() shows it, without its bold


def test_it_names_every_input_format_the_reader_takes() -> None:
    said = _help()
    assert [ext for ext in INPUT_EXTENSIONS if f"`{ext}`" not in said] == []
    assert "DataFrame" in said


def test_it_describes_the_arguments_to_give_first_what_it_returns_and_raises() -> None:
    said = _help()
    for argument in ("source", "template", "prompt_column", "id_column", "state", "output", "model"):
        assert re.search(rf"^ *- `{argument}`|or\s+`{argument}`,", said, re.MULTILINE), argument
    assert "Returns a `BatchResult`" in said
    raised = re.findall(r"^ *- `(\w+Error)`", said, re.MULTILINE)
    assert raised == ["UsageError", "LeaseHeldError", "OutageError", "FailWhenFailedError"]
    assert set(raised) <= set(rowrelay.__all__)  # each importable from rowrelay
    assert "result = await run_batch(" in said


def test_it_points_to_no_file_of_the_repository() -> None:
    assert re.findall(r"\b(?:tasks|flows|run)/[\w/]+\.py", _help()) == []
