"""The results frame an export joins onto the input, built from a loaded state frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rowrelay.tasks.citations import Citation, citations_text, distinct
from rowrelay.tasks.dataset import RESULT_COLUMNS
from rowrelay.tasks.state import StateTable, load, results_frame, results_frame_of
from rowrelay.tasks.state.results import asked_columns
from rowrelay.tasks.state.run_record import RunRecord
from rowrelay.tasks.token_logprobs import TokenLogprob, logprobs_text
from tests.support.state import FakeClock, rows

KEYS = [key for key, _index, _hash in rows(3)]


def _finished_batch(directory: Path, clock: FakeClock) -> None:
    with StateTable.open(directory, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(3))
        table.transition("row-000000", "submitting")
        table.transition("row-000000", "queued", response_id="resp_0")
        table.update("row-000000", error_type="transient", error_message="stream dropped, resumed")
        table.transition("row-000000", "completed", output_text="P2", input_tokens=12, output_tokens=3)
        table.transition("row-000001", "submitting")
        table.transition("row-000001", "failed", error_type="bad", error_message="refused")


def test_results_columns_in_output_order(batch_dir: Path, clock: FakeClock) -> None:
    _finished_batch(batch_dir, clock)
    results = results_frame(load(batch_dir), KEYS)
    assert list(results.columns) == ["row_index", *RESULT_COLUMNS]
    assert results["row_index"].tolist() == [0, 1, 2]
    assert results["rowrelay_status"].tolist() == ["completed", "failed", "pending"]
    assert results["output_text"].tolist()[0] == "P2"
    assert results["input_tokens"].tolist()[0] == 12


def test_a_completed_rows_earlier_error_is_not_its_result(batch_dir: Path, clock: FakeClock) -> None:
    _finished_batch(batch_dir, clock)
    state = load(batch_dir)
    assert state.loc[0, "error_message"] == "stream dropped, resumed"  # kept in the state, as history
    errors = results_frame(state, KEYS)["error"].tolist()
    assert pd.isna(errors[0])
    assert errors[1] == "refused"


def test_results_frame_of_a_directory_is_the_same(batch_dir: Path, clock: FakeClock) -> None:
    _finished_batch(batch_dir, clock)
    pd.testing.assert_frame_equal(results_frame_of(batch_dir, KEYS), results_frame(load(batch_dir), KEYS))


def test_a_result_goes_to_where_its_key_is_in_the_input_and_keys_it_no_longer_holds_are_left_out(
    batch_dir: Path, clock: FakeClock
) -> None:
    """The state's row_index is where a row was when first planned: an input sorted or filtered since
    would pair one row's input with another's result (row-000000's output went to row-000002)."""
    _finished_batch(batch_dir, clock)
    edited = ["row-000002", "row-000000", "row-000009"]  # reordered, row-000001 removed, one new row
    results = results_frame(load(batch_dir), edited)
    by_position = dict(zip(results["row_index"], results["rowrelay_status"], strict=True))
    assert by_position == {0: "pending", 1: "completed"}
    assert results.loc[results["row_index"] == 1, "output_text"].tolist() == ["P2"]


def test_citations_are_lists_and_an_answer_that_cites_nothing_has_an_empty_one(
    batch_dir: Path, clock: FakeClock
) -> None:
    """A completed answer that cites nothing is known to cite nothing ([]); a row with no answer has no
    citations to know (null). Each source is a struct of the four fields, those it lacks null."""
    page = Citation("https://example.com/a?utm_source=openai", "A page")
    document = Citation(file_id="file-1", filename="terms.pdf")
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(3))
        for key in KEYS[:2]:
            table.transition(key, "submitting")
        table.transition(KEYS[0], "completed", output_text="x", citations=citations_text([page, document]))
        table.transition(KEYS[1], "completed", output_text="y")
    asked = asked_columns(
        RunRecord(output="o", backend="b", model="m", mode="poll", tools=[{"type": "web_search"}])
    )
    results = results_frame(load(batch_dir), KEYS, asked)
    assert list(results.columns[-2:]) == ["tool_calls", "citations"]
    listed = results["citations"].tolist()
    assert listed[:2] == [
        [
            {"url": page.url, "title": "A page", "file_id": None, "filename": None},
            {"url": None, "title": None, "file_id": "file-1", "filename": "terms.pdf"},
        ],
        [],
    ]
    assert listed[2] is pd.NA
    assert "citations" not in results_frame(load(batch_dir), KEYS).columns  # not asked: not there


def test_each_source_is_kept_once_where_it_was_first_cited() -> None:
    first, second = Citation("https://a.example", "A"), Citation("https://b.example", "B")
    again = Citation("https://a.example", "A, cited after another paragraph")
    assert distinct([first, second, again, Citation(file_id="f", filename="x.pdf")]) == (
        first, second, Citation(file_id="f", filename="x.pdf"),
    )  # fmt: skip


def test_an_answers_log_probability_is_the_sum_of_its_tokens_and_its_tokens_a_list(
    batch_dir: Path, clock: FakeClock
) -> None:
    """exp(answer_logprob) is the probability of the whole answer; a row with no answer, or answered
    without log probabilities, has neither."""
    tokens = [
        TokenLogprob("P", -0.25, (("P", -0.25), ("Q", -1.75))),
        TokenLogprob("2", -0.5, (("2", -0.5), ("3", -1.0))),
    ]
    with StateTable.open(batch_dir, batch_id="b1", clock=clock) as table:
        table.add_pending(rows(3))
        for key in KEYS[:2]:
            table.transition(key, "submitting")
        table.transition(KEYS[0], "completed", output_text="P2", logprobs=logprobs_text(tokens))
        table.transition(KEYS[1], "completed", output_text="P3")
    asked = asked_columns(RunRecord(output="o", backend="b", model="m", mode="poll", logprobs=3))
    results = results_frame(load(batch_dir), KEYS, asked)
    assert list(results.columns[-2:]) == ["answer_logprob", "token_logprobs"]
    assert results["answer_logprob"].tolist()[0] == -0.75
    assert results["answer_logprob"].isna().tolist() == [False, True, True]
    listed = results["token_logprobs"].tolist()
    assert listed[0] == [
        {
            "token": "P",
            "logprob": -0.25,
            "top_logprobs": [{"token": "P", "logprob": -0.25}, {"token": "Q", "logprob": -1.75}],
        },
        {
            "token": "2",
            "logprob": -0.5,
            "top_logprobs": [{"token": "2", "logprob": -0.5}, {"token": "3", "logprob": -1.0}],
        },
    ]
    assert listed[1] is pd.NA
    assert listed[2] is pd.NA
