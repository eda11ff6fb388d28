"""prepare: keys, hashes, fingerprints, bad rows, and every refusal before a request is spent."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from rowrelay.tasks.dataset import InputSpec, PreparedRow, input_fingerprint, prepare, read_input
from rowrelay.tasks.errors import UsageError

TEMPLATE = "Subject: {subject}\n\n{body}"


@pytest.fixture
def tickets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticket_id": ["T-1", "T-2", "T-3"],
            "subject": ["Refund", "Login", "Export"],
            "body": ["Charged twice", "Locked out", "CSV cut off"],
            "n": [1, 2, 3],
        }
    )


def test_rows_in_input_order_with_id_keys(tickets: pd.DataFrame) -> None:
    prepared = prepare(tickets, InputSpec(template=TEMPLATE, id_column="ticket_id"))
    assert [r.row_key for r in prepared.rows] == ["T-1", "T-2", "T-3"]
    assert [r.row_index for r in prepared.rows] == [0, 1, 2]
    assert prepared.rows[1].prompt == "Subject: Login\n\nLocked out"
    assert prepared.bad_rows == {}
    assert prepared.frame is tickets
    assert prepared.sendable_rows == prepared.rows


def test_input_hash_is_blake2b_128_of_instructions_and_prompt(tickets: pd.DataFrame) -> None:
    plain = prepare(tickets, InputSpec(template=TEMPLATE, id_column="ticket_id"))
    instructed = prepare(
        tickets, InputSpec(template=TEMPLATE, id_column="ticket_id", instructions="Be brief.")
    )
    assert all(len(r.input_hash) == 32 for r in plain.rows)
    assert int(plain.rows[0].input_hash, 16) >= 0
    assert plain.rows[0].input_hash != instructed.rows[0].input_hash
    assert instructed.instructions == "Be brief."
    assert plain.fingerprint != instructed.fingerprint


def test_hash_keys_derive_from_the_input_hash(tickets: pd.DataFrame) -> None:
    prepared = prepare(tickets, InputSpec(template=TEMPLATE))
    for row in prepared.rows:
        assert row.row_key == "h" + row.input_hash[:16]


def test_instructions_and_prompt_do_not_run_together() -> None:
    frame = pd.DataFrame({"p": ["bc", "c"]})
    first = prepare(frame.iloc[:1], InputSpec(prompt_column="p", instructions="a"))
    second = prepare(frame.iloc[1:], InputSpec(prompt_column="p", instructions="ab"))
    assert first.rows[0].input_hash != second.rows[0].input_hash


def test_keys_stable_across_reruns(tickets: pd.DataFrame) -> None:
    spec = InputSpec(template=TEMPLATE, instructions="Triage.")
    first, second = prepare(tickets, spec), prepare(tickets.copy(), spec)
    assert first.rows == second.rows
    assert first.fingerprint == second.fingerprint


def test_keys_stable_across_csv_and_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"id": ["007", "010"], "n": [1, 22], "x": [1.5, 2.25], "subject": ["a", None], "body": ["b", "c"]}
    )
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    spec = InputSpec(template="{subject} {body} {n} {x}")
    from_csv = prepare(read_input(tmp_path / "in.csv"), spec)
    from_parquet = prepare(read_input(tmp_path / "in.parquet"), spec)
    assert from_csv.rows == from_parquet.rows
    assert from_csv.fingerprint == from_parquet.fingerprint
    by_id = InputSpec(template="{subject} {body}", id_column="id")
    assert [r.row_key for r in prepare(read_input(tmp_path / "in.csv"), by_id).rows] == ["007", "010"]


def test_fingerprint_ignores_unused_columns_but_not_order(tickets: pd.DataFrame) -> None:
    spec = InputSpec(template=TEMPLATE)
    base = prepare(tickets, spec)
    assert prepare(tickets.assign(n=[9, 9, 9]), spec).fingerprint == base.fingerprint
    reordered = prepare(tickets.iloc[[1, 0, 2]], spec)
    assert reordered.fingerprint != base.fingerprint
    assert input_fingerprint(base.rows, spec) == base.fingerprint
    other_spec = InputSpec(template=TEMPLATE + " ")
    assert input_fingerprint(base.rows, other_spec) != base.fingerprint


def test_identical_inputs_are_disambiguated_by_occurrence() -> None:
    frame = pd.DataFrame({"p": ["same", "other", "same", "same"]})
    keys = [r.row_key for r in prepare(frame, InputSpec(prompt_column="p")).rows]
    assert keys[0] == keys[2].removesuffix("-2") == keys[3].removesuffix("-3")
    assert keys[2].endswith("-2")
    assert keys[3].endswith("-3")
    assert len(set(keys)) == 4
    # The first occurrence keeps the bare key: adding a duplicate later does not rename earlier rows.
    shorter = [r.row_key for r in prepare(frame.iloc[:2], InputSpec(prompt_column="p")).rows]
    assert shorter == keys[:2]


def test_numeric_id_column_keys_as_text() -> None:
    frame = pd.DataFrame({"id": [7, 10], "p": ["a", "b"]})
    assert [r.row_key for r in prepare(frame, InputSpec(prompt_column="p", id_column="id")).rows] == [
        "7",
        "10",
    ]


def test_blank_prompts_are_bad_rows_not_errors() -> None:
    frame = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "s": ["x", None, "  ", "y"], "t": ["", None, "\n", "z"]}
    )
    prepared = prepare(frame, InputSpec(template="{s}{t}", id_column="id"))
    assert set(prepared.bad_rows) == {"b", "c"}
    assert prepared.bad_rows["b"] == (
        "empty prompt: the template rendered blank (columns s, t are empty, blank or missing)"
    )
    one = prepare(frame, InputSpec(template="Say: {s}", id_column="id"))
    assert one.bad_rows == {}  # the template's own text is not blank
    alone = prepare(frame, InputSpec(template="{s}", id_column="id"))
    assert (
        alone.bad_rows["c"]
        == "empty prompt: the template rendered blank (column s is empty, blank or missing)"
    )
    assert len(prepared.rows) == 4
    assert [r.row_key for r in prepared.sendable_rows] == ["a", "d"]


def test_rows_sent_with_an_empty_column_are_counted_per_column() -> None:
    frame = pd.DataFrame(
        {"id": list("abcdef"), "s": ["x", None, " ", "y", "\u00a0", ""], "t": ["", None, "\n", "z", "q", ""]}
    )
    prepared = prepare(frame, InputSpec(template="{s}: {t}", id_column="id"))
    # b, c and f render as ": " alone and are still sent: a template's own text may be the whole ask
    assert prepared.bad_rows == {}
    assert _listed(prepared.gaps) == {"s": ["b", "c", "e", "f"], "t": ["a", "b", "c", "f"]}
    assert _listed(prepare(frame, InputSpec(template="{s}{t}", id_column="id")).gaps) == {
        "s": ["e"],
        "t": ["a"],
    }
    assert prepare(frame, InputSpec(prompt_column="s", id_column="id")).gaps == {}  # blank: a bad row


def _listed(gaps: Mapping[str, pa.Array[Any]]) -> dict[str, list[str]]:
    return {name: [str(key) for key in keys.to_pylist()] for name, keys in gaps.items()}


def test_blank_prompt_column_rows_are_bad_rows() -> None:
    frame = pd.DataFrame({"p": ["ask", None, "", "ask"]})
    prepared = prepare(frame, InputSpec(prompt_column="p"))
    keys = [r.row_key for r in prepared.rows]
    assert set(prepared.bad_rows) == {keys[1], keys[2]}
    assert keys[2] == keys[1] + "-2"  # two blank prompts are identical input
    assert prepared.bad_rows[keys[1]] == "empty prompt: prompt column 'p' is empty, blank or missing"


def test_a_template_with_surrounding_text_is_never_blank() -> None:
    frame = pd.DataFrame({"s": [None]})
    assert prepare(frame, InputSpec(template="Subject: {s}")).bad_rows == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"^no prompt: give a template \(the prompt, with \{column\} fields filled from each row\) or a"),
        (
            {"template": "{a}", "prompt_column": "a"},
            r"^both a template \('\{a\}'\) and a prompt column \('a'\) were",
        ),
        ({"template": "{0}"}, "positional"),
    ],
)
def test_spec_refused_on_construction(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        InputSpec(**kwargs)


def test_template_naming_absent_columns(tickets: pd.DataFrame) -> None:
    with pytest.raises(
        UsageError,
        match=r"template names column\(s\) not in the input: sbject "
        r"\(available: ticket_id, subject, body, n\)",
    ):
        prepare(tickets, InputSpec(template="{sbject} {body}"))


def test_unknown_prompt_column(tickets: pd.DataFrame) -> None:
    with pytest.raises(
        UsageError, match=r"prompt column 'prompt' is not in the input \(available: ticket_id,"
    ):
        prepare(tickets, InputSpec(prompt_column="prompt"))


def test_unknown_id_column(tickets: pd.DataFrame) -> None:
    with pytest.raises(UsageError, match=r"id column 'id' is not in the input \(available: ticket_id,"):
        prepare(tickets, InputSpec(template=TEMPLATE, id_column="id"))


def test_empty_input() -> None:
    with pytest.raises(UsageError, match="the input has no rows: nothing to send"):
        prepare(pd.DataFrame({"p": []}), InputSpec(prompt_column="p"))


def test_duplicate_ids_show_up_to_five_with_counts() -> None:
    ids = ["a", "a", "a", "b", "b", "c", "c", "d", "d", "e", "e", "f", "f", "g"]
    frame = pd.DataFrame({"id": ids, "p": ["x"] * len(ids)})
    with pytest.raises(UsageError) as caught:
        prepare(frame, InputSpec(prompt_column="p", id_column="id"))
    message = str(caught.value)
    assert message.startswith("id column 'id' has 6 duplicated value(s): 'a' ×3, 'b' ×2")
    assert message.endswith(" … (ids must be unique)")
    assert message.count("×") == 5
    assert "'g'" not in message


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_null_or_empty_ids(blank: str | None) -> None:
    frame = pd.DataFrame({"id": ["a", blank, "c"], "p": ["x", "y", "z"]})
    with pytest.raises(
        UsageError,
        match=r"id column 'id' has 1 null or empty value\(s\), at row\(s\) 2 \(the first row is 1, a "
        r"header not counted\): every row needs an id",
    ):
        prepare(frame, InputSpec(prompt_column="p", id_column="id"))


def test_prepared_row_is_frozen_and_slotted() -> None:
    row = PreparedRow("k", 0, "p", hashlib.blake2b(b"", digest_size=16).hexdigest())
    assert not hasattr(row, "__dict__")
    with pytest.raises(AttributeError):
        row.prompt = "changed"  # type: ignore[misc]


def test_text_that_is_not_unicode_is_refused() -> None:
    frame = pd.DataFrame({"p": pd.Series(["x", "y\udfff"], dtype=object)})
    with pytest.raises(UsageError, match="the input holds text that is not valid Unicode"):
        prepare(frame, InputSpec(prompt_column="p"))
