"""A CSV's separator is the one its header line holds most often outside quotes: a European Excel export
(`id;"Preis, EUR, brutto";text`) and a tab-separated header with a comma in a name were read as commas,
and refused as cut short or as naming none of the template's columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.dataset import read_input


@pytest.mark.parametrize(
    ("text", "columns", "values"),
    [
        pytest.param(
            'id;"Preis, EUR, brutto";text\n1;"3,50";hallo, welt\n2;"4,00";tschüss\n',
            ["id", "Preis, EUR, brutto", "text"],
            ["hallo, welt", "tschüss"],
            id="semicolons, commas quoted",
        ),
        pytest.param(
            'id;"Name, Vorname";text\n1;"A, B";hi\n',
            ["id", "Name, Vorname", "text"],
            ["hi"],
            id="semicolons, a comma quoted, rows alike as commas",
        ),
        pytest.param(
            "id\tname, first\ttext\n1\tA\thi\n",
            ["id", "name, first", "text"],
            ["hi"],
            id="tabs, a comma bare",
        ),
        pytest.param(
            'id;"a|b";text\n1;x;hi\n', ["id", "a|b", "text"], ["hi"], id="semicolons, a pipe quoted"
        ),
        pytest.param(
            'id|"note, or; tab\t"|text\n1|x|hi\n', ["id", "note, or; tab\t", "text"], ["hi"], id="pipes"
        ),
    ],
)
def test_separators_in_quoted_names_are_not_counted(
    tmp_path: Path, text: str, columns: list[str], values: list[str]
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    read = read_input(path)
    assert read.columns.tolist() == columns
    assert read["text"].tolist() == values


@pytest.mark.parametrize(
    ("header", "columns"),
    [
        ("id,text;b", ["id", "text;b"]),
        ("id;text,b", ["id;text", "b"]),
        ('id,"x;y;z",text', ["id", "x;y;z", "text"]),
        ("id,text\tb", ["id", "text\tb"]),
        ('"a; b | c"', ["a; b | c"]),
    ],
)
def test_a_comma_as_often_as_another_separator_is_still_the_separator(
    tmp_path: Path, header: str, columns: list[str]
) -> None:
    """A tie, or a header whose only separators are quoted, reads as commas, as every release read it."""
    path = tmp_path / "in.csv"
    path.write_text(f"{header}\n{','.join('v' * len(columns))}\n", encoding="utf-8")
    assert read_input(path).columns.tolist() == columns


def test_only_the_header_line_tells_the_separator(tmp_path: Path) -> None:
    """Rows that hold other separators more often do not change it (nor does a big file cost more to
    tell: the header line is all that is read)."""
    path = tmp_path / "in.csv"
    path.write_text("id,text\n" + "1,a; b; c; d\n" * 10_000, encoding="utf-8")
    read = read_input(path)
    assert read.columns.tolist() == ["id", "text"]
    assert read["text"].iloc[0] == "a; b; c; d"
