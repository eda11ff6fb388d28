"""`--tools`: every way of giving the tools becomes the one JSON array each create sends; what a batch
cannot run, or must not record, is refused in one line; tool calls are billed at the table's fees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.responses import Response

from rowrelay.tasks.citations import Citation
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.hosted_tools import tool_list
from rowrelay.tasks.llm.prices import load_prices
from rowrelay.tasks.llm.snapshots import citations_of, snapshot_of, tool_calls_of
from rowrelay.tasks.llm.tool_fees import fees_of_run, tool_fee
from rowrelay.tasks.run.spend import Spend
from rowrelay.tasks.settings import load_settings

_MCP = {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/sse"}


def _tools(value: str) -> tuple[dict[str, Any], ...]:
    return tool_list(load_settings(tools=value).tools)


def test_names_a_file_and_the_json_itself_give_the_same_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = ({"type": "web_search"}, {"type": "code_interpreter", "container": {"type": "auto"}})
    assert _tools("web_search, code_interpreter,web_search") == wanted  # a name given twice: once
    (tmp_path / "tools.json").write_text(json.dumps(list(wanted)))
    monkeypatch.chdir(tmp_path)
    assert _tools("tools.json") == wanted  # read once, here: the settings hold the tools, not the path
    assert _tools(json.dumps(list(wanted))) == wanted
    assert _tools(json.dumps({"type": "web_search_preview"})) == ({"type": "web_search_preview"},)
    monkeypatch.setenv("ROWRELAY_TOOLS", "web_search")
    assert tool_list(load_settings().tools) == ({"type": "web_search"},)
    assert tool_list(None) == ()


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("web_serch", "'web_serch' is not a tool name (web_search, web_search_preview, code_interpreter"),
        ("[]", "no tool in the list: name at least one, or leave --tools out"),
        ('[{"type": "web_search"}, {"type": "web_search"}]', "tool 2 (web_search) is tool 1 again"),
        ("[{", "its JSON is not JSON ("),
        ('[{"name": "x"}]', "tool 1 is not an object with a 'type'"),
        (
            '[{"type": "web_search"}, {"type": "shell"}]',
            "tool 2 (shell): its calls are answered by the caller",
        ),
        ('[{"type": "function", "name": "f"}]', "tool 1 (function): its calls are answered by the caller"),
        (
            '{"type": "image_generation"}',
            "tool 1 (image_generation): its images would be billed and then lost",
        ),
        ('[{"type": "browser"}]', "tool 1 (browser): not a tool type the server runs (web_search, "),
        ('{"type": "file_search"}', "tool 1 (file_search): needs 'vector_store_ids'"),
        ('{"type": "file_search", "vector_store_ids": []}', "tool 1 (file_search): needs 'vector_store_ids'"),
        ('{"type": "code_interpreter"}', "tool 1 (code_interpreter): needs a 'container'"),
        ('{"type": "mcp", "server_url": "u"}', "tool 1 (mcp): needs a 'server_label'"),
        ('{"type": "mcp", "server_label": "l"}', "tool 1 (mcp): needs a 'server_url' (or a 'connector_id')"),
        (json.dumps(_MCP), 'tool 1 (mcp): needs "require_approval": "never": a call waiting for approval'),
    ],
)
def test_what_the_api_or_a_batch_cannot_take_is_refused_in_one_line(value: str, said: str) -> None:
    with pytest.raises(UsageError) as refused:
        load_settings(tools=value)
    assert str(refused.value).startswith(f"--tools: {said}")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("field", ["authorization", "headers"])
def test_an_mcp_servers_credentials_are_refused_and_never_repeated(
    field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tools are written to run.json and to Prefect's parameters, where no secret may go; the error
    names the field, never its value (from the command line or the environment)."""
    secret = "Bearer sk-mcp-secret"
    tool = {**_MCP, "require_approval": "never", field: secret if field == "authorization" else {"X": secret}}
    with pytest.raises(UsageError, match=f"^--tools: tool 1 \\(mcp\\): '{field}' would be written") as given:
        load_settings(tools=json.dumps([tool]))
    monkeypatch.setenv("ROWRELAY_TOOLS", json.dumps([tool]))
    with pytest.raises(UsageError, match=r"^ROWRELAY_TOOLS: tool 1") as from_env:
        load_settings()
    assert secret not in str(given.value) + str(from_env.value)


@pytest.mark.parametrize(
    ("url", "holds"),
    [
        ("https://user:pw-5e1f0c9a7b@mcp.example.com/sse", "credentials (user:password@)"),
        ("https://mcp.example.com/sse?token=pw-5e1f0c9a7b", "a query or fragment (?...)"),
        ("https://mcp.example.com/sse#pw-5e1f0c9a7b", "a query or fragment (?...)"),
    ],
)
def test_an_mcp_server_url_holding_a_key_is_refused_and_never_repeated(url: str, holds: str) -> None:
    """Refused as a base URL holding credentials is: the URL goes to run.json and Prefect's parameters."""
    tool = {**_MCP, "require_approval": "never", "server_url": url}
    with pytest.raises(UsageError) as given:
        load_settings(tools=json.dumps([tool]))
    said = str(given.value)
    assert said.startswith(f"--tools: tool 1 (mcp): its 'server_url' holds {holds}, which may be a key")
    assert "pw-5e1f0c9a7b" not in said
    assert tool_list(load_settings(tools=json.dumps([{**tool, "server_url": _MCP["server_url"]}])).tools)


def test_an_unreadable_file_is_named() -> None:
    with pytest.raises(UsageError, match=r"^--tools: cannot read /nonexistent/t\.json: No such file"):
        load_settings(tools="/nonexistent/t.json")


def _response(*items: dict[str, Any]) -> dict[str, Any]:
    message = {"type": "message", "content": [{"type": "output_text", "text": "answer"}]}
    usage = {"input_tokens": 1_000_000, "output_tokens": 0}
    return {"id": "resp_1", "status": "completed", "output": [*items, message], "usage": usage}


def test_a_responses_billed_tool_calls_are_counted_by_kind_containers_once() -> None:
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    code = {"type": "code_interpreter_call", "id": "ci_1", "container_id": "cntr_a"}
    response = _response(
        search, search, {"type": "file_search_call"}, code, {**code, "id": "ci_2"}, {"type": "mcp_call"}
    )
    assert tool_calls_of(response) == {
        "web_search_call": 2,
        "file_search_call": 1,
        "code_interpreter_call": 1,
    }
    assert tool_calls_of(_response()) is None
    assert snapshot_of(response).tool_calls == tool_calls_of(response)
    assert snapshot_of({**response, "status": "in_progress"}).tool_calls is None  # not ended: not counted


def test_an_answers_sources_are_its_url_and_file_citations_each_once_from_json_and_the_sdk() -> None:
    """Files the answer made (a code interpreter's) are not sources; a page cited after two paragraphs
    is listed once, where it was first cited."""
    page = {
        "type": "url_citation",
        "url": "https://a.example/x",
        "title": "X",
        "start_index": 0,
        "end_index": 1,
    }
    other = {**page, "url": "https://b.example/y", "title": "Y"}
    document = {"type": "file_citation", "file_id": "file-9", "filename": "terms.pdf", "index": 3}
    made = {"type": "container_file_citation", "container_id": "cntr_1", "file_id": "cfile_1",
            "filename": "plot.png", "start_index": 0, "end_index": 1}  # fmt: skip
    path = {"type": "file_path", "file_id": "file-out", "index": 0}
    parts = [
        {"type": "output_text", "text": "one", "annotations": [page, made, document]},
        {"type": "output_text", "text": "two", "annotations": [path, other, page]},
    ]
    response = {**_response(), "output": [{"type": "message", "role": "assistant", "id": "msg_1",
                                           "status": "completed", "content": parts}]}  # fmt: skip
    wanted = (
        Citation("https://a.example/x", "X"),
        Citation(file_id="file-9", filename="terms.pdf"),
        Citation("https://b.example/y", "Y"),
    )
    assert citations_of(response) == wanted
    sdk = Response.model_validate({**response, "created_at": 0, "model": "m", "object": "response",
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "usage": None})  # fmt: skip
    assert snapshot_of(sdk).citations == snapshot_of(response).citations == wanted
    assert citations_of(_response()) is None  # none cited: none kept
    assert snapshot_of({**response, "status": "in_progress"}).citations is None  # no answer yet


@pytest.mark.parametrize(
    ("tools", "model", "fees"),
    [
        ([{"type": "web_search"}], "gpt-4.1-mini", {"web_search_call": 0.01}),
        ([{"type": "web_search_2025_08_26"}], "gpt-4.1-mini", {"web_search_call": 0.01}),
        ([{"type": "web_search_preview"}], "gpt-4o", {"web_search_call": 0.025}),  # not reasoning: dearer
        ([{"type": "web_search_preview_2025_03_11"}], "o3-deep-research", {"web_search_call": 0.01}),
        ([{"type": "web_search_preview"}], "gpt-5-mini", {"web_search_call": 0.01}),
        (
            [{"type": "file_search", "vector_store_ids": ["vs"]}, {"type": "code_interpreter"}],
            "o4-mini",
            {"file_search_call": 0.0025, "code_interpreter_call": 0.03},
        ),
        ([_MCP], "o3", {}),  # no per-call fee
    ],
)
def test_each_tool_is_billed_at_the_tables_fee_for_the_model(
    tools: list[dict[str, Any]], model: str, fees: dict[str, float]
) -> None:
    assert fees_of_run(load_prices(None), tuple(tools), model) == fees


def test_a_price_file_sets_a_tools_fee_over_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"tool_calls": {"web_search": {"per_call": 0.02}}}))
    fees = fees_of_run(load_prices(path), ({"type": "web_search"},), "gpt-4.1-mini")
    assert fees == {"web_search_call": 0.02}
    assert tool_fee({"web_search_call": 3, "mcp_call": 9}, fees) == pytest.approx(0.06)
    assert tool_fee(None, fees) == 0.0


@pytest.mark.parametrize(("ceiling", "admitted"), [(4, 14), (None, 15)])
def test_a_rows_cost_and_its_estimate_under_a_cap_count_its_tool_calls(
    ceiling: int | None, admitted: int
) -> None:
    """A response's web searches are billed beside its tokens; under a cap, a row's estimate counts its
    searches: `--max-tool-calls` of them when given (4 x $0.01), else the mean so far with the output
    estimate's margin (3 x $0.01 x 1.25)."""
    settings = load_settings(tools="web_search", max_tool_calls=ceiling, max_cost=1.0, model="gpt-4.1-mini")
    spend = Spend.open(settings)
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    assert spend.settle("row-0", snapshot_of(_response(search, search, search))) == pytest.approx(0.43)
    said = [spend.admit(f"row-{n}", 0, 0) for n in range(1, 30)]  # no tokens: the searches alone
    assert said == ["go"] * admitted + ["wait"] * (29 - admitted)  # $0.43 spent, $1 cap
