"""A file whose text is plainly another format than its extension names is refused saying so and naming
the extension it needs: JSON saved as `.csv` was 'has no rows: nothing to send' (a list) or read as a CSV
whose columns were a record's pieces (JSON lines), and CSV saved as `.json` 'line 1 is not valid JSON:
unexpected character'. Through `read_input`, and `rowrelay run` refused in one line before anything starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.dataset import read_input
from rowrelay.tasks.errors import UsageError
from tests.support.preforked import Preforked, preforked
from tests.support.refused_run import refused_line

RECORDS = '[{"id": 1, "text": "a"}, {"id": 2, "text": "b"}]\n'
PRETTY = '[\n  {"id": 1, "text": "a"}\n]\n'
LINES = '{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n'
CSV = "id,text\n1,a\n2,b\n"


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    with preforked(tmp_path_factory.mktemp("preforked")) as server:
        yield server


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("in.csv", RECORDS, "in.csv looks like JSON, not CSV: rename it to in.json"),
        ("in.csv", PRETTY, "in.csv looks like JSON, not CSV: rename it to in.json"),
        ("in.csv", "\ufeff" + LINES, "in.csv looks like JSON lines (one JSON object a line), not CSV: "),
        (
            "in.tsv",
            LINES,
            "in.tsv looks like JSON lines (one JSON object a line), not TSV: rename it to in.jsonl",
        ),
        ("in.json", CSV, "in.json looks like CSV, not JSON (its first line is a header of names, not JSON"),
        ("in.jsonl", "\n" + CSV, "in.jsonl looks like CSV, not JSON lines (its first line is a header"),
    ],
)
def test_a_file_plainly_of_another_format_is_refused_naming_it(
    tmp_path: Path, name: str, text: str, said: str
) -> None:
    (source := tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as refused:
        read_input(source)
    assert str(refused.value).startswith(f"{source.parent}/{said}")
    assert "the extension decides how a file is read" in str(refused.value)


def test_a_csv_header_in_brackets_and_json_text_in_a_cell_are_read_as_csv(tmp_path: Path) -> None:
    (bracketed := tmp_path / "sql.csv").write_text("[id],[text]\n1,a\n", encoding="utf-8")
    assert read_input(bracketed).columns.tolist() == ["[id]", "[text]"]  # SQL Server's export
    (braced := tmp_path / "b.csv").write_text('{id},text\n1,"{""a"": 1}"\n', encoding="utf-8")
    assert read_input(braced)["text"].tolist() == ['{"a": 1}']
    (broken := tmp_path / "broken.json").write_text('{"id": 1, "text": "a"\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"broken\.json: line 1 is not valid JSON"):
        read_input(broken)  # broken JSON is still said as such


def test_rowrelay_run_refuses_json_named_csv_in_one_line(commands: Preforked, tmp_path: Path) -> None:
    (source := tmp_path / "tickets.csv").write_text(RECORDS, encoding="utf-8")
    line = refused_line(commands, tmp_path, source, "--template", "{text}")
    assert line == (
        f"error: {source} looks like JSON, not CSV: rename it to tickets.json, the extension decides how "
        "a file is read"
    )
