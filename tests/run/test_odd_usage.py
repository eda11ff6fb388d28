"""A server's usage that is no count of tokens, through whole runs: read as unknown, said once a run.

A user trial's OpenAI-compatible server answered `usage.input_tokens: -5` (Chat Completions:
`prompt_tokens: -3`): it was written into the state table as it was, and every later command refused the
table rowrelay itself wrote as damaged (`repair` then dropped the segment, every row in it sent and paid
again). `"input_tokens": "10"` crashed its row's pricing on every run, the paid answer never recorded.
`output_tokens: 10**12` priced one row at $1.6M. Now each such count is unknown (null: no cost_usd), the
answer is recorded, one warning a field says what the server answered, and the next run opens the table
and sends nothing. Each row's jobs on the server are its attempts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.state import load
from tests.support.canned import Canned, canned_server, chat_completion, prompt_of
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.leaks import every_log_record, files_holding
from tests.support.rewriting_proxy import rewriting
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

ROWS = 6
ODD_USAGE: dict[str, dict[str, Any]] = {
    "row-0000": {"input_tokens": -5},
    "row-0001": {"input_tokens": "10"},
    "row-0002": {"input_tokens": 10.0},
    "row-0003": {"input_tokens": True},
    "row-0004": {"output_tokens": 10**12},
}
"""What the server says of each odd row's usage; row-0005's is the emulator's own."""


def _odd(response: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    odd = ODD_USAGE.get((response.get("metadata") or {}).get("rowrelay_row", ""))
    if odd is None or not isinstance(response.get("usage"), dict):
        return response
    return {**response, "usage": {**response["usage"], **odd}}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "not a count of tokens" in r.getMessage()]


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_odd_usage_is_unknown_and_the_table_stays_readable(
    transport: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "rowrelay.backend")
    with running_emulator(EmulatorConfig()) as emu:
        async with rewriting(emu.url, _odd) as url:
            settings = settings_for(Address(url), transport=transport, poll_streams=0)
            report = await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
            said = _warnings(caplog)
            # The next run opens the table (the old code's refused it as damaged) and sends nothing.
            again = await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "state").set_index("row_key")
    assert report.counts == {"completed": ROWS}, frame[["status", "error_message", "note"]]
    assert again.counts == {"completed": ROWS}
    assert started == Counter(dict.fromkeys(frame.index, 1)) == Counter(frame["attempts"].to_dict())
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)
    # The SDK's models read a string of digits, a whole float and a bool as the number (pydantic's lax
    # mode) before rowrelay sees them; the lean transport reads the JSON, and rowrelay reads them unknown.
    odd = list(ODD_USAGE) if transport == "lean" else ["row-0000", "row-0004"]
    assert frame.loc[odd, ["input_tokens", "output_tokens"]].isna().any(axis=1).all()
    assert frame.loc[["row-0004"], "output_tokens"].isna().all()
    assert frame.loc[odd, "cost_usd"].isna().all(), "an unknown count prices nothing (not $1.6M)"
    assert (frame.loc[["row-0005"], ["input_tokens", "cost_usd"]] > 0).all(axis=None)
    # One warning a field, naming it and what the server said, for four rows of odd input tokens.
    assert len(said) == 2, said
    assert any("usage.input_tokens" in line for line in said)
    assert any("usage.output_tokens 1000000000000" in line for line in said)


def _chat(body: dict[str, Any]) -> Canned:
    completion = chat_completion({"role": "assistant", "content": "Billing, P2."})
    row = int({p: k for k, p in prompts(ROWS).items()}[prompt_of(body)].removeprefix("row-"))
    # (Chat rows go through the SDK, whose models read a string of digits as its number.)
    odd = {0: {"prompt_tokens": -3}, 1: {"prompt_tokens": 10**12}, 2: {"completion_tokens": -1}}.get(row, {})
    return Canned({**completion, "usage": {**completion["usage"], **odd}})


async def test_odd_chat_usage_is_unknown_and_the_table_stays_readable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "rowrelay.backend")
    bodies: list[dict[str, Any]] = []
    async with canned_server(_chat, bodies) as url:
        chat = settings_for(Address(url), backend="chat", api_key="sk-canned-0123456789abcdef")
        report = await run_table(new_table(tmp_path / "batch", ROWS), chat, prompts(ROWS))
        again = await run_table(new_table(tmp_path / "batch", ROWS), chat, prompts(ROWS))
    frame = load(tmp_path / "batch").set_index("row_key")
    assert report.counts == again.counts == {"completed": ROWS}, frame[["status", "error_message"]]
    rows_of = {p: k for k, p in prompts(ROWS).items()}
    jobs = Counter(rows_of[prompt_of(body)] for body in bodies)
    assert jobs == Counter(dict.fromkeys(frame.index, 1)) == Counter(frame["attempts"].to_dict())
    assert_every_job_is_paid_for(frame.reset_index(), jobs, Counter())
    assert frame.loc[["row-0000", "row-0001"], "input_tokens"].isna().all()
    assert frame.loc[["row-0002"], "output_tokens"].isna().all()
    assert frame.loc["row-0003", "input_tokens"] == 10
    said = _warnings(caplog)
    assert len(said) == 2, said
    assert any("usage.prompt_tokens" in line for line in said), said


def _quoting_the_key(response: dict[str, Any], request_headers: Mapping[str, str]) -> dict[str, Any]:
    if not isinstance(response.get("usage"), dict):
        return response
    return {**response, "usage": {**response["usage"], "input_tokens": request_headers["Authorization"]}}


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_a_usage_quoting_the_key_is_said_by_its_type_alone(
    transport: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server answered `usage.input_tokens: "Bearer sk-proj-..."`, and the warning named the value as
    it came, into rowrelay's log and Prefect's: it now says what was wrong, a string."""
    key = "sk-proj-usage0123456789abcdefSECRET"
    caplog.set_level(logging.WARNING, "rowrelay.backend")
    with running_emulator(EmulatorConfig()) as emu, every_log_record() as logged:
        async with rewriting(emu.url, _quoting_the_key) as url:
            settings = settings_for(Address(url), transport=transport, poll_streams=0, api_key=key)
            report = await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "state").set_index("row_key")
    assert report.counts == {"completed": ROWS}, frame[["status", "error_message", "note"]]
    assert started == Counter(dict.fromkeys(frame.index, 1)) == Counter(frame["attempts"].to_dict())
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)
    assert frame["input_tokens"].isna().all()
    assert _warnings(caplog) == [
        "the server answered usage.input_tokens a string, not a count of tokens (a whole number from 0 to "
        "100000000): read as unknown, so such rows get no cost_usd (a --max-cost run counts them at their "
        "estimate); said once a run"
    ]
    assert [line for line in logged if key[:12] in line] == []
    assert files_holding(tmp_path, key[:12]) == []


def _longer_than_any_model_writes(response: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    row = (response.get("metadata") or {}).get("rowrelay_row")
    if row != "row-0000" or not isinstance(response.get("usage"), dict):
        return response
    return {**response, "usage": {**response["usage"], "output_tokens": 50_000_000}}


async def test_an_output_count_no_model_can_write_is_unknown_and_counted_at_its_estimate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`output_tokens: 50_000_000` was within what 0a64732 kept (100M) and beyond what the output
    estimate learned (128,000, 80823c6): the row was priced at $80 on gpt-4.1-mini (on gpt-5, $500) and
    a capped run stopped on money never spent. One rule now: beyond any model's output, unknown, no
    cost_usd, and the cap counts the row at its estimate."""
    caplog.set_level(logging.WARNING, "rowrelay")
    with running_emulator(EmulatorConfig()) as emu:
        async with rewriting(emu.url, _longer_than_any_model_writes) as url:
            settings = settings_for(Address(url), poll_streams=0, max_cost=1.0, max_output_tokens=200)
            report = await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "state").set_index("row_key")
    assert report.counts == {"completed": ROWS}, frame[["status", "error_message", "note"]]
    assert started == Counter(dict.fromkeys(frame.index, 1)) == Counter(frame["attempts"].to_dict())
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)
    assert frame.loc[["row-0000"], ["output_tokens", "cost_usd"]].isna().all(axis=None)
    assert frame.drop(index="row-0000")["cost_usd"].notna().all()
    said = [r.getMessage() for r in caplog.records]
    unknown = "usage.output_tokens 50000000, not a count of tokens (a whole number from 0 to 1000000)"
    assert any(unknown in line for line in said), said
    assert any("--max-cost counts each at its estimate" in line for line in said), said
