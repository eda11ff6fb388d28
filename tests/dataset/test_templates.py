"""Templates: field extraction, the refusals, and single-row vs bulk rendering agreeing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rowrelay.tasks.dataset import read_input, render_template, template_fields
from rowrelay.tasks.dataset.templates import render_column
from rowrelay.tasks.errors import UsageError


def test_fields_in_order_of_first_appearance_each_once() -> None:
    assert template_fields("{b} and {a} then {b} {{literal}}") == ["b", "a"]


def test_field_with_spaces_is_a_column_name() -> None:
    assert template_fields("{first name}") == ["first name"]


def test_render_one_row() -> None:
    assert render_template("Subject: {subject}\n\n{body}", {"subject": "Hi", "body": "Text"}) == (
        "Subject: Hi\n\nText"
    )


def test_literal_braces() -> None:
    assert render_template("{{json}}: {x}", {"x": 1}) == "{json}: 1"


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, pd.NaT, np.float64("nan")])
def test_missing_values_render_empty(missing: object) -> None:
    assert render_template("[{x}]", {"x": missing}) == "[]"


def test_render_row_missing_field() -> None:
    with pytest.raises(UsageError, match=r"template field \{c\} is not in the row \(available: a, b\)"):
        render_template("{c}", {"b": 1, "a": 2})


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{subject", r"malformed template: expected '\}' before end of string"),
        ("subject}", r"malformed template: Single '\}' encountered"),
        ("{a!}", r"malformed template: unmatched '\{' in format spec"),
        ("{}", r"template field \{\} is positional"),
        ("{0}", r"template field \{0\} is positional"),
        ("{a.b}", r"template field \{a\.b\} uses attribute or index access"),
        ("{a[0]}", r"template field \{a\[0\]\} uses attribute or index access"),
        ("{a!r}", r"template field \{a!r\} has a conversion or format spec"),
        ("{a:>10}", r"template field \{a:>10\} has a conversion or format spec"),
        ("{a:{b}}", r"template field \{a:\{b\}\} has a conversion or format spec"),
        ("{}", r"; for braces in the prompt itself, write each twice: \{\{ and \}\}$"),
        # A prompt showing the JSON it wants back: said to be text, with the template's fix.
        (
            'Reply like {"label": "x"} for {body}',
            r'template field \{"label": "x"\} is text in braces, not a column name \(JSON\?\): for braces '
            r'in the prompt itself, write each twice: \{\{"label": "x"\}\}$',
        ),
        ("{'a'}", r"template field \{'a'\} is text in braces"),
        ("no fields here", "template names no column, so every row would get the same prompt"),
        ("", "template names no column"),
    ],
)
def test_malformed_templates(template: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        template_fields(template)


def test_bulk_rendering_matches_row_rendering_for_mixed_types() -> None:
    frame = pd.DataFrame(
        {
            "s": ["a", None, "c", ""],
            "i": [1, 2, 3, 4],
            "f": [1.5, float("nan"), 3.0, -0.25],
            "o": pd.Series([None, [1, 2], {"k": "v"}, True], dtype=object),
            "t": pd.to_datetime(
                pd.Series(["2024-06-01 10:00", None, "2024-06-03 00:00", "2024-06-04 12:30"])
            ),
        }
    )
    template = "s={s} i={i} f={f} o={o} t={t} again {s}"
    bulk = render_column(frame, template).tolist()
    single = [render_template(template, row) for row in frame.to_dict("records")]
    assert bulk == single
    assert bulk[1] == "s= i=2 f= o=[1, 2] t= again "


def test_bulk_rendering_refuses_absent_columns_listing_both() -> None:
    frame = pd.DataFrame({"subject": ["x"], "body": ["y"]})
    with pytest.raises(
        UsageError,
        match=r"template names column\(s\) not in the input: sbject, bdy \(available: subject, body\)",
    ):
        render_column(frame, "{sbject} {bdy} {subject}")


def test_nested_values_render_as_json_from_jsonl_and_parquet(tmp_path: Path) -> None:
    """A JSON object or array, a Parquet struct or list, goes into the prompt as JSON text, not as
    Python's or NumPy's repr; both ways of rendering agree."""
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(
        '{"id": 1, "user": {"name": "Zoë", "tags": ["a", "b"]}, "n": [1, 2]}\n'
        '{"id": 2, "user": {"name": "Bob", "tags": []}, "n": null}\n'
    )
    parquet = tmp_path / "in.parquet"
    users = [{"name": "Zoë", "tags": ["a", "b"]}, {"name": "Bob", "tags": []}]
    pq.write_table(pa.table({"id": [1, 2], "user": users, "n": [[1.5, None], None]}), parquet)
    template = "{user} / {n}"
    for source, n in ((jsonl, "[1, 2]"), (parquet, "[1.5, null]")):
        frame = read_input(source)
        bulk = render_column(frame, template).tolist()
        assert bulk == [render_template(template, row) for row in frame.to_dict("records")]
        assert bulk == [f'{{"name": "Zoë", "tags": ["a", "b"]}} / {n}', '{"name": "Bob", "tags": []} / '], (
            source
        )
