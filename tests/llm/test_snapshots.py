"""A response's output is read in one walk (snapshots.py): every field of a row's snapshot that comes from
its output items is what the API's shapes say it is, from the JSON object the lean transport reads and
from the SDK's model alike, and only an ended response's output is read at all."""

from __future__ import annotations

from typing import Any

from openai.types.responses import Response

from rowrelay.tasks.citations import Citation
from rowrelay.tasks.llm.snapshots import snapshot_of
from rowrelay.tasks.token_logprobs import TokenLogprob


def _text(text: str, notes: list[dict[str, Any]], logprobs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": notes, "logprobs": logprobs}


_PAGE = {"type": "url_citation", "url": "https://a.example", "title": "A", "start_index": 0, "end_index": 1}
_FILE = {"type": "file_citation", "file_id": "file-1", "filename": "f.pdf", "index": 0}
_MADE = {"type": "file_path", "file_id": "file-2", "index": 0}
_CITED = (Citation("https://a.example", "A"), Citation(file_id="file-1", filename="f.pdf"))
"""What `_response`'s answer cites: each source once, where first cited; not the file it made."""
_TOKEN = {
    "token": "Hi",
    "logprob": -0.5,
    "bytes": [72, 105],
    "top_logprobs": [{"token": "Ho", "logprob": -1.5, "bytes": [72, 111]}],
}


def _response(status: str) -> dict[str, Any]:
    message = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [
            _text("Hi", [_PAGE, _MADE], [_TOKEN]),
            {"type": "refusal", "refusal": "I won't"},
            _text(" there", [_FILE, _PAGE], []),
            {"type": "refusal", "refusal": " say more"},
        ],
    }
    reasoning = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "first"}, {"type": "summary_text", "text": "second"}],
    }
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed",
              "action": {"type": "search", "query": "q"}}  # fmt: skip
    code = {"type": "code_interpreter_call", "id": "ci_1", "status": "completed", "container_id": "cntr_1",
            "code": "", "outputs": []}  # fmt: skip
    call = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": "{}"}
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 100,
        "completed_at": 103,
        "status": status,
        "model": "gpt-4.1-mini",
        "output": [
            reasoning,
            search,
            message,
            code,
            {**code, "id": "ci_2"},
            search,
            call,
            {**code, "id": "ci_3", "container_id": "cntr_2"},
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "background": True,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 2},
            "total_tokens": 17,
        },
    }


def test_a_completed_responses_output_is_read_whole_from_its_json_and_the_sdks_model() -> None:
    json = _response("completed")
    snapshot = snapshot_of(json)
    assert snapshot.output_text == "Hi there"
    assert snapshot.refusal == "I won't say more"
    assert snapshot.reasoning_summary == "first\n\nsecond"
    assert snapshot.tool_calls == {"web_search_call": 2, "code_interpreter_call": 2}
    assert snapshot.citations == _CITED
    assert snapshot.logprobs == (TokenLogprob("Hi", -0.5, (("Ho", -1.5),)),)
    assert snapshot.awaits_tools is True
    assert snapshot.server_seconds == 3.0
    assert (snapshot.input_tokens, snapshot.output_tokens, snapshot.reasoning_tokens) == (10, 7, 2)
    assert snapshot.cached_tokens == 4
    assert snapshot_of(Response.model_validate(json)) == snapshot


def test_an_incomplete_response_keeps_its_answer_but_no_refusal_or_wait_for_tools() -> None:
    snapshot = snapshot_of(_response("incomplete"))
    assert snapshot.output_text == "Hi there"
    assert snapshot.reasoning_summary == "first\n\nsecond"
    assert snapshot.tool_calls == {"web_search_call": 2, "code_interpreter_call": 2}
    assert snapshot.citations == _CITED
    assert snapshot.refusal is None
    assert snapshot.awaits_tools is False
    assert snapshot.server_seconds is None
    assert (snapshot.error_code, snapshot.error_message) == ("incomplete", "incomplete: max_output_tokens")


def test_a_running_responses_output_is_not_read() -> None:
    """Its output is not an answer yet: nothing is read from it, not even a broken one."""
    for status in ("queued", "in_progress"):
        snapshot = snapshot_of({**_response(status), "output": 5})
        assert (snapshot.output_text, snapshot.refusal, snapshot.reasoning_summary) == (None, None, None)
        assert (snapshot.tool_calls, snapshot.citations, snapshot.logprobs) == (None, None, None)
        assert snapshot.awaits_tools is False


def test_an_answer_with_nothing_but_text_has_none_of_the_rest() -> None:
    json = {**_response("completed"), "output": [{"type": "message", "content": [_text("ok", [], [])]}]}
    snapshot = snapshot_of(json)
    assert snapshot.output_text == "ok"
    assert (snapshot.refusal, snapshot.reasoning_summary) == (None, None)
    assert (snapshot.tool_calls, snapshot.citations, snapshot.logprobs) == (None, None, None)
    assert snapshot.awaits_tools is False
