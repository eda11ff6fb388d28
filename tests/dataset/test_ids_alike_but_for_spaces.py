"""Ids alike but for spaces around them are one id, refused as duplicates as `1` and `1.0` are: `" 001"`
and `"001"` ran as two rows of one input, while the check of ids written otherwise takes them for one."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.dataset import InputSpec, read_prepared
from rowrelay.tasks.errors import UsageError

SPEC = InputSpec(template="{a}", id_column="id")


def _refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as refused:
        read_prepared(path, SPEC)
    return str(refused.value)


def test_ids_alike_but_for_spaces_are_refused_naming_how_each_is_written(tmp_path: Path) -> None:
    assert _refusal(tmp_path, 'id,a\n" 001",x\n"001",y\n"7",z\n"7 ",w\n"7",v\n') == (
        "id column 'id' has 2 duplicated value(s): '7' ×3 (as '7', '7 '), '001' ×2 (as ' 001', '001') "
        "(ids must be unique; spaces around one do not make it another)"
    )


def test_ids_written_alike_are_said_as_before(tmp_path: Path) -> None:
    assert _refusal(tmp_path, "id,a\na,x\nb,y\na,z\n") == (
        "id column 'id' has 1 duplicated value(s): 'a' ×2 (ids must be unique)"
    )


def test_keys_keep_the_ids_as_written(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,a\n" 001",x\n"002 ",y\n', encoding="utf-8")
    assert read_prepared(path, SPEC).keys.to_pylist() == [" 001", "002 "]
