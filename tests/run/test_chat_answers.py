"""Chat Completions answers that hold no answer, from OpenAI-compatible servers, through the whole run.

rowrelay offers no tools on chat rows, yet a server may answer with a tool call (`content: null`,
`finish_reason: tool_calls`), with a message of no content, or with no choice at all (`choices: []`, some
providers' answer to filtered content). The first two were recorded `completed` with an empty text; the
third stopped the whole run as "not the API's answer" after other rows had completed. Each now fails its
row alone (`no_answer`), paid for and counted once per create, and is not sent again by itself: sent
again within --max-attempts as `response_failed`, each one was paid again, for most likely the same
answer. Only a run whose first answers all have no choice stops, and a server that streams answers
nobody asked to stream is said to. Every case counts the server's creates per row against the attempts
and possible duplicates the row recorded.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from rowrelay.tasks.llm import NotTheApiError
from rowrelay.tasks.llm.chat_answers import FIRST_ANSWERS
from rowrelay.tasks.state import load
from tests.support.canned import Canned, canned_server, chat_completion, prompt_of
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

ROWS = 12
KEY = "sk-canned-0123456789abcdef"
TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
}
# Each row's answer by its number modulo 6: (message or None for `choices: []`, finish_reason)
ANSWERS: list[tuple[dict[str, Any] | None, str]] = [
    ({"role": "assistant", "content": "Billing, P2."}, "stop"),
    (TOOL_CALL, "tool_calls"),
    ({"role": "assistant", "content": None}, "stop"),
    (None, "stop"),
    ({"role": "assistant", "content": None, "refusal": "I can't help with that."}, "stop"),
    ({"role": "assistant", "content": ""}, "stop"),
]


def _row_of(body: dict[str, Any]) -> str:
    return {prompt: key for key, prompt in prompts(ROWS).items()}[prompt_of(body)]


def _answer(body: dict[str, Any]) -> Canned:
    message, reason = ANSWERS[int(_row_of(body).removeprefix("row-")) % len(ANSWERS)]
    return Canned(chat_completion(message, reason))


async def _run(
    tmp_path: Path, answer: Any, *, runs: int = 1, **settings: Any
) -> tuple[list[dict[str, Any]], Exception | None]:
    """`runs` chat runs of ROWS rows, one after the other on one state table, on a server answering
    `answer`; the requests it got, and what the last run raised (None when it ended)."""
    bodies: list[dict[str, Any]] = []
    raised: Exception | None = None
    async with canned_server(answer, bodies) as url:
        chat = settings_for(Address(url), backend="chat", api_key=KEY, **settings)
        for _ in range(runs):
            try:
                await run_table(new_table(tmp_path / "batch", ROWS), chat, prompts(ROWS))
            except NotTheApiError as exc:
                raised = exc
    return bodies, raised


def _each_create_counted(frame: pd.DataFrame, bodies: list[dict[str, Any]]) -> None:
    """Every create the server got is a paid job, counted on its row: attempts, and possible duplicates
    where the row could not tell."""
    assert_every_job_is_paid_for(frame, Counter(_row_of(body) for body in bodies), Counter())


async def test_an_answer_with_no_answer_in_it_fails_its_row_alone(tmp_path: Path) -> None:
    """Two runs: the second sends again only what a failed answer of the server's own may fix (none of
    these), so nothing at all."""
    bodies, raised = await _run(tmp_path, _answer, runs=2, max_attempts=2)
    assert raised is None, "two rows answered with no choice among others that had one: no reason to stop"
    frame = load(tmp_path / "batch").set_index("row_key")
    kind = pd.Series([int(key.removeprefix("row-")) % len(ANSWERS) for key in frame.index], frame.index)
    # Each create counted once, on its row, as an attempt: no possible duplicate (the invariant's helper
    # counts any second job as one).
    jobs = Counter(_row_of(body) for body in bodies)
    assert jobs == Counter(frame["attempts"].to_dict()), "each create counted once, on its row"
    assert jobs == Counter(dict.fromkeys(frame.index, 1)), "none sent again, by either run"
    assert (frame["orphans"] == 0).all(), "every create was answered: none is a possible duplicate"
    for number, status, error_type, code, said in [
        (0, "completed", None, None, None),
        (1, "failed", "no_answer", "tool_calls", "the model asked to call a tool (lookup) and gave no"),
        (
            2,
            "failed",
            "no_answer",
            "no_content",
            "the model gave no answer: its message has no content",
        ),
        (3, "failed", "no_answer", "no_choice", "the server answered with no choice (choices: [])"),
        (4, "failed", "refusal", None, "the model refused: I can't help with that."),
        (5, "completed", None, None, None),
    ]:
        rows = frame[kind == number]
        assert set(rows["status"]) == {status}, (number, rows[["status", "error_message"]])
        assert set(rows["error_type"].fillna("-")) == {error_type or "-"}, number
        assert set(rows["error_code"].fillna("-")) == {code or "-"}, number
        if said is not None:
            assert rows["error_message"].str.startswith(said).all(), (number, rows["error_message"].tolist())
        assert (rows["input_tokens"] == 10).all(), "each answer's usage is kept: it was paid for"
    assert frame.loc[kind == 0, "output_text"].eq("Billing, P2.").all()
    assert frame.loc[kind == 5, "output_text"].eq("").all(), "an empty text is the model's answer"
    assert frame["note"].isna().all(), "none gave up after its attempts: none is sent again by itself"


async def test_a_run_whose_first_answers_all_have_no_choice_stops_as_not_the_api(tmp_path: Path) -> None:
    bodies, raised = await _run(tmp_path, lambda _: Canned(chat_completion(None)), max_attempts=1)
    assert isinstance(raised, NotTheApiError)
    assert f"as were the run's first {FIRST_ANSWERS} answers, none naming one" in str(raised)
    assert "check the base URL" in str(raised)
    frame = load(tmp_path / "batch")
    _each_create_counted(frame, bodies)
    assert (frame["status"] == "failed").sum() == FIRST_ANSWERS - 1, "those before the stop failed alone"
    assert (frame["status"] == "orphaned").sum() >= 1, "the answer that stopped it counted as maybe sent"


async def test_a_server_that_streams_unasked_is_said_to(tmp_path: Path) -> None:
    """The SDK handed the events' text over as the answer, and the run stopped saying it named no
    choices and to check the base URL, which was right."""
    chunk = b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[]}\n\ndata: [DONE]\n\n'
    bodies, raised = await _run(tmp_path, lambda _: Canned(chunk, content_type="text/event-stream"))
    assert isinstance(raised, NotTheApiError)
    assert "was answered with a stream (text/event-stream: data: {" in str(raised)
    assert "though the create asked for none" in str(raised)
    assert all("stream" not in body for body in bodies), "rowrelay asked for no stream"
    _each_create_counted(load(tmp_path / "batch"), bodies)
