"""A UTF-8 byte order mark, which Windows tools write first, is read past in JSONL and JSON as in CSV.

A trial's `bom.jsonl` was refused (`line 1 is not valid JSON: UTF-8 byte order mark (BOM) is not
supported`, exit 2) where the same rows as CSV were read. With one leading mark read past, such a file's
rows, keys and input hashes are those of the file without it; a mark anywhere else is still refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.dataset import InputSpec, read_prepared
from rowrelay.tasks.errors import UsageError

BOM = b"\xef\xbb\xbf"
FILES = {
    ".jsonl": b'{"id": 7, "body": "caf\xc3\xa9"}\n{"id": 8, "body": "tea"}\n',
    ".json": b'[{"id": 7, "body": "caf\xc3\xa9"}, {"id": 8, "body": "tea"}]',
    ".csv": b"id,body\n7,caf\xc3\xa9\n8,tea\n",
}
SPECS = [InputSpec(template="About {body}", id_column="id"), InputSpec(template="About {body}")]


@pytest.mark.parametrize("suffix", list(FILES))
@pytest.mark.parametrize("spec", SPECS, ids=["id column", "keys from hashes"])
def test_a_leading_bom_is_read_past_with_the_same_rows_keys_and_hashes(
    tmp_path: Path, suffix: str, spec: InputSpec
) -> None:
    plain, marked = tmp_path / f"plain{suffix}", tmp_path / f"marked{suffix}"
    plain.write_bytes(FILES[suffix])
    marked.write_bytes(BOM + FILES[suffix])
    without, with_mark = read_prepared(plain, spec), read_prepared(marked, spec)
    assert with_mark.frame.columns.tolist() == ["id", "body"], "the first column's name is its own"
    assert with_mark.frame.equals(without.frame)
    assert with_mark.keys.equals(without.keys)
    assert with_mark.hashes.equals(without.hashes)
    assert with_mark.fingerprint == without.fingerprint


def test_json_lines_in_a_json_file_with_a_bom_are_read_as_lines(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    path.write_bytes(BOM + FILES[".jsonl"])
    assert read_prepared(path, SPECS[0]).frame["body"].tolist() == ["café", "tea"]


def test_a_bom_past_the_start_is_still_refused_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "joined.jsonl"
    path.write_bytes(FILES[".jsonl"] + BOM + b'{"id": 9, "body": "x"}\n')  # two files concatenated
    with pytest.raises(UsageError, match="line 3 is not valid JSON"):
        read_prepared(path, SPECS[0])
