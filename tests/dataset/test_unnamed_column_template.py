"""A CSV column whose header is empty reads as `Unnamed: N`, which a template cannot name: the refusal says
how to reach it (a header, or --prompt-column), where it sent the user to `{Unnamed}`, which names no
column either; and --prompt-column does reach it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.dataset.template_syntax import template_fields
from rowrelay.tasks.errors import UsageError


def test_a_template_naming_a_headerless_column_says_how_to_reach_it(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,\n1,Summarise the first ticket.\n2,Summarise the second.\n")
    frame = read_input(source)
    assert list(frame.columns) == ["id", "Unnamed: 1"]
    with pytest.raises(UsageError) as caught:
        prepare(frame, InputSpec(template="{Unnamed: 1}", id_column="id"))
    said = str(caught.value)
    assert "is the name given a column whose header is empty" in said, said
    assert "give that column a header in the input" in said
    assert "--prompt-column" in said
    assert "write {Unnamed}" not in said  # names no column
    prepared = prepare(frame, InputSpec(prompt_column="Unnamed: 1", id_column="id"))
    assert [row.prompt for row in prepared.rows] == ["Summarise the first ticket.", "Summarise the second."]


def test_a_format_spec_says_a_column_named_with_a_colon_needs_renaming() -> None:
    with pytest.raises(UsageError, match=r"write \{price\} \(a column whose name holds ':' or '!'"):
        template_fields("{price:.2f}")
