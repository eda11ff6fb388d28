"""A run the cost cap stopped after counting more than the cap says by how much, and why: the rows in
flight as it was reached are answered, and paid for, all the same, each sent on an estimate its answer
passed. A user trial's `--tools web_search --max-cost 0.05` spent $0.1105 (about 2.8 searches a row,
sent on a guess of one until answers taught the run) and its line said only "spent $0.1105 of --max-cost
$0.05", with nothing of why, nor of `--max-tool-calls`, which bounds a row's calls and so its estimate."""

from __future__ import annotations

from typing import Any

import pytest

from rowrelay.tasks.llm.snapshots import snapshot_of
from rowrelay.tasks.run.cap_words import LeftToSend, LostCreates, stop_message
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.settings import load_settings

SEARCH = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
OVER = "$0.0605 over it: the rows already sent when it was reached cost more than their estimate"
TOOLS = " (their hosted tool calls: --max-tool-calls bounds a row's, and its estimate)"


def _response(*items: dict[str, Any], output_tokens: int = 0) -> dict[str, Any]:
    return {
        "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-4.1-mini",
        "output": [*items, {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                            "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
        "usage": {"input_tokens": 0, "output_tokens": output_tokens, "total_tokens": output_tokens},
    }  # fmt: skip


def test_a_line_past_the_cap_says_by_how_much_and_names_the_tool_ceiling() -> None:
    left = LeftToSend(5, 0)
    said = stop_message(0.1105, LostCreates(), 0.05, left, tools_unbounded=True)
    assert said.startswith("cost cap reached: spent $0.1105 of --max-cost $0.05; 5 rows not sent; ")
    assert said.endswith(f"; {OVER}{TOOLS}"), said
    assert stop_message(0.1105, LostCreates(), 0.05, left).endswith(f"; {OVER}")
    within = stop_message(0.0499, LostCreates(), 0.05, left, tools_unbounded=True)
    assert "over it" not in within, within
    assert "--max-tool-calls" not in within, within


@pytest.mark.parametrize(
    ("ceiling", "searches", "output_tokens", "named"),
    [(None, 6, 0, True), (3, 3, 100_000, False)],
    ids=["no-ceiling", "ceiling"],
)
def test_a_run_capped_past_its_cap_says_so(
    ceiling: int | None, searches: int, output_tokens: int, named: bool
) -> None:
    """A row admitted on its estimate before any answer, then answered dearer than the whole cap: six
    searches ($0.06) on the guess of one, or, with a ceiling (whose three calls the estimate holds
    already), three and a long answer. Settled past the cap, the line says by how much, and names the
    ceiling only where the run was given none. (Rows in flight at once on the guess of one search, as the
    trial's four were, now wait for the first to answer: `test_cap_guess.py`.)"""
    settings = load_settings(tools="web_search", max_tool_calls=ceiling, max_cost=0.05, model="gpt-4.1-mini")
    spend = Spend.open(settings)
    assert spend.admit("row-0", 0, 0) == "go"
    spend.settle("row-0", snapshot_of(_response(*[SEARCH] * searches, output_tokens=output_tokens)))
    assert spend.admit("next", 0, 0) != "go"  # capped
    said = spend.stop_message(LeftToSend(1, 0))
    assert said is not None
    assert "over it: the rows already sent when it was reached cost more than their estimate" in said, said
    assert ("--max-tool-calls bounds a row's" in said) is named, said
