"""Usage errors of `rowrelay run`, in a real process: exit 2 and one line on stderr naming the option or
file, with no traceback, before anything starts.

The process runs with Prefect made unimportable (forked from one that imported the CLI's other
libraries once: tests/support/preforked.py): the flow, the embedded emulator and every request are
reached only through Prefect, so a refusal that comes out clean proves none of them started; the tests
check as well that no state directory, output, emulator record or local Prefect server record (that
server is started as a process of its own, without importing Prefect here) was written.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.state import StateTable
from tests.support.cli import IN_PROCESS, ROOT, sigint_as_from_a_terminal
from tests.support.last_run import ran_on
from tests.support.local_prefect import stopped_afterwards
from tests.support.preforked import Preforked, preforked
from tests.support.tickets import TEMPLATE, write_tickets


class Case:
    """A batch to refuse: its input, state directory, output, and the environment of the process."""

    def __init__(self, tmp_path: Path, commands: Preforked) -> None:
        self.commands = commands
        self.tmp = tmp_path
        self.source = write_tickets(tmp_path / "tickets.csv", 3)
        self.state = tmp_path / "state"
        self.output = tmp_path / "out" / "tickets.csv"
        self.home = tmp_path / "home"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ROWRELAY_", "OPENAI_", "AZURE_"))},
            "ROWRELAY_HOME": str(self.home),
        }

    def args(self, *options: str, source: Path | None = None, given_state: bool = True) -> list[str]:
        """`rowrelay run` of the batch with `options`; `given_state=False` leaves its state the default."""
        state = ["--state", str(self.state)] if given_state else []
        return ["run", str(source or self.source), "--template", TEMPLATE, "--id-column", "ticket_id",
                *state, "--output", str(self.output), *options]  # fmt: skip

    def refuse(
        self,
        *options: str,
        source: Path | None = None,
        env: dict[str, str] | None = None,
        given_state: bool = True,
        warned: tuple[str, ...] = (),
    ) -> str:
        """Run the batch with `options`; assert it was refused cleanly; returns the one line it said.
        `warned`: the lines said before it, as they come (that the run waits for a cluster's worker)."""
        args = self.args(*options, source=source, given_state=given_state)
        result = self.commands.run(args, {**self.env, **(env or {})}, ROOT)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        # a line more (a library's warning, say) breaks the rule
        assert len(lines) == 1 + len(warned), result.stderr
        assert tuple(lines[:-1]) == warned, result.stderr
        line = lines[-1]
        assert not self.output.exists()
        assert not (self.home / "emulator.json").exists()
        # The local Prefect server starts without importing Prefect here: its record is the proof.
        assert not (self.home / "prefect-server.json").exists()
        return line

    def reaches_prefect(
        self, *options: str, env: dict[str, str] | None = None, given_state: bool = True
    ) -> None:
        """Run the batch with `options` on a server and Prefect API that start nothing here; assert it
        passed every check: it got as far as importing Prefect, which fails in these processes."""
        args = self.args(*options, given_state=given_state)
        ran = self.commands.run(args, {**self.env, **_NOTHING_STARTED, **(env or {})}, ROOT)
        assert ran.returncode == 1, ran.stderr
        assert "Traceback" in ran.stderr
        assert "No module named 'prefect" in ran.stderr


_NOTHING_STARTED = {
    "ROWRELAY_BASE_URL": "http://127.0.0.1:9/v1",
    "OPENAI_API_KEY": "sk-unused",
    "ROWRELAY_PREFECT": "ephemeral",
}
"""A backend and a Prefect API for which a run starts no process of its own (no embedded emulator, no
local Prefect server), and sends nothing before it imports Prefect."""


_TOOL_NAMES = (
    "(web_search, web_search_preview, code_interpreter); for a tool that needs its own "
    "settings (file_search's vector stores, an MCP server), give a JSON file of tool objects"
)
_CALLERS = (
    "its calls are answered by the caller, and a background batch has nobody to answer them; run the rows "
    "through an Agent Framework agent that holds the tool (--agent)"
)


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    with preforked(tmp_path_factory.mktemp("preforked")) as server:
        yield server


@pytest.fixture
def case(tmp_path: Path, commands: Preforked) -> Iterator[Case]:
    """A run these tests expect refused that was not (a regression) may get as far as starting the local
    Prefect server or the embedded emulator under the case's home: stopped after the test either way."""
    made = Case(tmp_path, commands)
    with stopped_afterwards(made.home):
        yield made


def test_a_run_that_passes_every_check_fails_in_these_processes_where_it_reaches_prefect(case: Case) -> None:
    """What makes a clean refusal here proof that nothing started: past the checks, a run imports Prefect,
    and in these processes (forked ones too) that import fails, with a traceback and exit 1."""
    case.reaches_prefect()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rpm", "-5"], "--rpm: must be at least 1 (got -5)"),
        (["--tpm", "0"], "--tpm: must be at least 1 (got 0)"),
        (["--tpm", "-100"], "--tpm: must be at least 1 (got -100)"),
        (["--max-in-flight", "0"], "--max-in-flight: must be at least 1 (got 0)"),
        (["--max-attempts", "0"], "--max-attempts: must be at least 1 (got 0)"),
        (
            ["--backend", "nope"],
            "--backend: must be 'auto', 'emulator', 'openai', 'azure', 'chat' or 'agent' (got 'nope')",
        ),
        (["--mode", "nope"], "--mode: must be 'poll' or 'stream' (got 'nope')"),
        (["--max-cost", "-1"], "--max-cost: must be at least 0 (got -1.0)"),
        (
            ["--service-tier", "fastest"],
            "--service-tier: must be 'flex', 'default' or 'priority' (got 'fastest')",
        ),
        (
            ["--reasoning-effort", "extreme"],
            "--reasoning-effort: must be 'none', 'minimal', 'low', 'medium', 'high', 'xhigh' or 'max' "
            "(got 'extreme')",
        ),
        (["--max-output-tokens", "8"], "--max-output-tokens: must be at least 16 (got 8)"),
        (["--temperature", "2.5"], "--temperature: must be at most 2 (got 2.5)"),
        (["--temperature", "-0.1"], "--temperature: must be at least 0 (got -0.1)"),
        (
            ["--reasoning-summary", "brief"],
            "--reasoning-summary: must be 'auto', 'concise' or 'detailed' (got 'brief')",
        ),
        (["--tools", "web_serch"], f"--tools: 'web_serch' is not a tool name {_TOOL_NAMES}"),
        (["--tools", '[{"type": "function", "name": "lookup"}]'], f"--tools: tool 1 (function): {_CALLERS}"),
        (["--tools", "tools.json"], "--tools: cannot read tools.json: No such file or directory"),
        (["--max-tool-calls", "0"], "--max-tool-calls: must be at least 1 (got 0)"),
        (
            ["--model", "o4-mini-deep-research", "--tools", "code_interpreter"],
            "--model o4-mini-deep-research: a deep research model needs a web search, file search or MCP "
            "tool to research with, and OpenAI refuses it any create without one: add --tools "
            "web_search_preview (or a JSON file of file_search or mcp tools)",
        ),
        (
            ["--max-tool-calls", "5"],
            "--max-tool-calls: no --tools are given, so no row's response calls a tool",
        ),
        (
            ["--tools", "web_search", "--backend", "chat", "--base-url", "http://127.0.0.1:9/v1"],
            "--tools: Chat Completions runs no server-side tools (--backend openai or azure)",
        ),
        (
            ["--tools", "web_search", "--agent", "tests.llm.agent_factories:make_agent"],
            "--tools: an agent's tools are its own: give them to the agent its factory builds",
        ),
        (["--image-detail", "low"], "--image-detail: no --image-column is given, so no row sends an image"),
        (["--logprobs", "21"], "--logprobs: must be at most 20 (got 21)"),
        (["--dask", " "], "--dask: names no scheduler; give its address, e.g. tcp://10.0.0.5:8786"),
        (
            ["--schema", ""],
            "--schema '': names no file; give a JSON Schema file (.json) or a Pydantic model (module:Model)",
        ),
        (["--logprobs", "-1"], "--logprobs: must be at least 0 (got -1)"),
        (
            ["--logprobs", "3", "--agent", "tests.llm.agent_factories:make_agent"],
            "--logprobs: an agent hands back its answer's text, not its tokens' log probabilities "
            "(--backend openai, azure or chat give them)",
        ),
        (
            ["--reasoning-summary", "auto", "--backend", "chat", "--base-url", "http://127.0.0.1:9/v1"],
            "--reasoning-summary: Chat Completions writes no reasoning summary; ask the Responses API for "
            "one (--backend openai or azure)",
        ),
    ],
)
def test_a_bad_setting_is_named_as_its_option(case: Case, options: list[str], message: str) -> None:
    assert case.refuse(*options) == f"error: {message}"
    assert not case.state.exists()


def test_a_bad_setting_from_the_environment_is_named_as_its_variable(case: Case) -> None:
    line = case.refuse(env={"ROWRELAY_RPM": "-5", "ROWRELAY_MAX_IN_FLIGHT": "0"})
    assert line == "error: ROWRELAY_RPM: must be at least 1 (got '-5')"
    assert case.refuse("--max-in-flight", "0", env={"ROWRELAY_RPM": "-5"}) == (
        "error: --max-in-flight: must be at least 1 (got 0)"  # the option given is named first
    )


def test_a_url_requests_could_not_go_to_is_refused_and_its_credentials_are_never_repeated(case: Case) -> None:
    """With no scheme, every create failed in the HTTP client and was counted as maybe sent, so each row
    was given up on as orphaned when nothing had left; credentials in the URL were never sent as the key
    (every row failed) and were recorded with the run."""
    form = "must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000/v1"
    key = {"OPENAI_API_KEY": "sk-test"}
    assert case.refuse("--base-url", "127.0.0.1:8000/v1", env=key) == (
        f"error: --base-url: {form} (got '127.0.0.1:8000/v1')"
    )
    assert case.refuse(env={**key, "OPENAI_BASE_URL": "ftp://host/v1"}) == (
        f"error: OPENAI_BASE_URL: {form} (got 'ftp://host/v1')"  # the variable that was set
    )
    port = case.refuse("--base-url", "http://127.0.0.1:99999/v1", env=key)
    assert port.startswith("error: --base-url: is not a valid URL (Port out of range")
    with_password = case.refuse("--base-url", "https://bob:pa55word@proxy.example/v1", env=key)
    assert with_password.startswith("error: --base-url: must not hold credentials (user:password@)")
    azure = {"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://bob:pa55word@x.openai.azure.com"}
    with_password += case.refuse("--backend", "azure", env=azure)
    assert "AZURE_OPENAI_ENDPOINT: must not hold credentials" in with_password
    endpoints = case.tmp / "endpoints.toml"
    endpoints.write_text('[[endpoints]]\nname = "east"\nbase_url = "http://bob:pa55word@host/v1"\n')
    with_password += case.refuse("--endpoints", str(endpoints))
    assert "endpoint 'east': base_url: must not hold credentials" in with_password
    assert "pa55word" not in with_password
    with_query = case.refuse("--base-url", "https://proxy.example/v1?key=s3cret", env=key)
    assert with_query.startswith("error: --base-url: must not hold a query or fragment (?... or #...)")
    assert "s3cret" not in with_query
    assert not case.state.exists()


def test_a_cap_on_a_model_with_no_known_price_is_refused_naming_it_and_the_way_out(case: Case) -> None:
    line = case.refuse("--max-cost", "5", "--model", "my-deployment")
    assert line.startswith("error: --max-cost: no openai price known for model 'my-deployment', ")
    assert line.endswith("and pass it with --prices FILE or ROWRELAY_PRICES")
    assert not case.state.exists()
    flex = case.refuse("--max-cost", "5", "--model", "gpt-4.1-mini", "--service-tier", "flex")
    assert "no openai price known for model 'gpt-4.1-mini' at service tier 'flex'" in flex


def test_a_price_file_that_is_not_one_is_refused(case: Case) -> None:
    prices = case.tmp / "prices.json"
    prices.write_text("{not json")
    assert case.refuse("--prices", str(prices)).startswith(f"error: --prices {prices}: not JSON (")
    prices.write_text('{"providers": {"openai": {"m": {"default": {"input": -1, "output": 1}}}}}')
    problem = "providers.openai.m.default.input: Input should be greater than or equal to 0"
    assert case.refuse("--prices", str(prices)) == f"error: --prices {prices}: {problem}"
    missing = case.tmp / "nope.json"
    assert case.refuse("--prices", str(missing)).startswith(f"error: --prices {missing}: cannot read it")
    from_env = case.refuse(env={"ROWRELAY_PRICES": str(missing)})  # named as it was given
    assert from_env.startswith(f"error: ROWRELAY_PRICES {missing}: cannot read it")
    assert not case.state.exists()


def test_a_bad_endpoints_file_is_refused_in_a_process_without_prefect(case: Case) -> None:
    endpoints = case.tmp / "endpoints.toml"
    endpoints.write_text(
        '[[endpoints]]\nname = "east"\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "sk-in-file"\n'
    )
    line = case.refuse("--endpoints", str(endpoints))
    assert line.startswith(
        f"error: --endpoints {endpoints}: endpoint 'east': 'api_key' would put a key in the file"
    )
    assert "sk-in-file" not in line
    endpoints.write_text(
        '[[endpoints]]\nname = "east"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )  # no key at all
    assert case.refuse("--endpoints", str(endpoints)) == (
        f"error: --endpoints {endpoints}: endpoint 'east': no API key: name the variable holding it with "
        "api_key_env (or set OPENAI_API_KEY)"
    )
    assert not case.state.exists()


def test_an_endpoint_signing_in_with_entra_id_needs_only_its_azure_endpoint(case: Case) -> None:
    endpoints = case.tmp / "endpoints.toml"
    endpoints.write_text('[[endpoints]]\nname = "east"\nbackend = "azure"\nazure_auth = "entra"\n')
    assert case.refuse("--endpoints", str(endpoints)) == (
        f"error: --endpoints {endpoints}: endpoint 'east': the azure backend needs azure_endpoint"
    )
    endpoints.write_text('[[endpoints]]\nname = "east"\nbackend = "azure"\nazure_auth = "key"\n')
    assert case.refuse("--endpoints", str(endpoints)) == (
        f"error: --endpoints {endpoints}: endpoint 'east': the azure backend needs azure_endpoint and "
        "azure_api_key_env (or AZURE_OPENAI_*)"
    )
    endpoints.write_text('[[endpoints]]\nname = "east"\nbackend = "azure"\nazure_auth = "entr"\n')
    assert case.refuse("--endpoints", str(endpoints)).startswith(
        f"error: --endpoints {endpoints}: endpoint 'east': azure_auth: input should be 'key' or 'entra'"
    )
    assert not case.state.exists()


def test_a_backend_without_its_credentials_is_refused_before_anything_is_written(case: Case) -> None:
    """A base URL makes the backend OpenAI's, which needs a key; Azure needs its endpoint and key."""
    no_key = (
        "error: no API key: set OPENAI_API_KEY (or ROWRELAY_API_KEY; a server that checks none takes any "
        "value), or use --backend emulator"
    )
    assert case.refuse("--base-url", "http://127.0.0.1:9/v1") == no_key
    assert case.refuse("--backend", "chat") == no_key
    assert case.refuse("--backend", "azure") == (
        "error: the azure backend needs AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY (not set)"
    )
    endpoint = {"AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com"}
    assert case.refuse("--backend", "azure", env=endpoint) == (
        "error: the azure backend needs AZURE_OPENAI_API_KEY (not set), or ROWRELAY_AZURE_AUTH=entra to sign "
        "in with Microsoft Entra ID"
    )
    assert case.refuse("--backend", "azure", env={"AZURE_OPENAI_API_KEY": "k"}) == (
        "error: the azure backend needs AZURE_OPENAI_ENDPOINT (not set)"
    )
    assert not case.state.exists()


def test_a_backend_that_does_not_run_on_azure_says_so_to_a_user_set_up_for_azure(case: Case) -> None:
    """With Azure configured and no OpenAI key, `--backend chat` was refused for want of OPENAI_API_KEY,
    as if the Azure key would do there; the run would have gone to OpenAI with it."""
    azure = {"AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com", "AZURE_OPENAI_API_KEY": "k"}
    for backend, instead in (
        ("chat", "--backend azure"),
        ("agent", "--backend azure --agent MODULE:FUNCTION"),
    ):
        assert case.refuse("--backend", backend, env=azure) == (
            f"error: --backend {backend} runs on OpenAI or an OpenAI-compatible --base-url, not on the Azure "
            f"OpenAI resource AZURE_OPENAI_ENDPOINT names: use {instead} (the Responses API, in background "
            "mode), or set OPENAI_API_KEY to run on OpenAI"
        )
    assert not case.state.exists()


def test_an_azure_endpoint_ending_in_the_route_the_client_adds_is_refused_with_its_root(case: Case) -> None:
    """An endpoint ending in /openai (or /openai/v1, Azure's v1 API) doubled the route the SDK's Azure
    client adds: every create met a 404, found only at the first create, after Prefect had started."""
    root = "https://example.openai.azure.com"
    azure = {"AZURE_OPENAI_API_KEY": "k"}
    sent = f"{root}/openai/openai/responses?api-version=..."
    assert case.refuse("--backend", "azure", env={**azure, "AZURE_OPENAI_ENDPOINT": f"{root}/openai/"}) == (
        f"error: AZURE_OPENAI_ENDPOINT {root}/openai/ ends in /openai, which the Azure client adds itself "
        f"(requests would go to {sent}): give the resource's root, {root}"
    )
    v1 = f"{root}/openai/v1"
    v1_said = (
        "ends in /openai/v1, Azure's v1 API, which --backend azure does not use: its client adds /openai "
        f"itself and sends an api-version (requests would go to {v1}/openai/responses?api-version=...). Give "
        f"the resource's root, {root}, or run on the v1 API as an OpenAI-compatible server: --backend openai "
        f"--base-url {v1}, the resource's key as OPENAI_API_KEY"
    )
    assert case.refuse(env={**azure, "ROWRELAY_AZURE_ENDPOINT": v1}) == (  # auto: Azure's, by its endpoint
        f"error: ROWRELAY_AZURE_ENDPOINT {v1} {v1_said}"
    )
    endpoints = case.tmp / "endpoints.toml"
    endpoints.write_text(
        f'[[endpoints]]\nname = "east"\nbackend = "azure"\nazure_endpoint = "{v1}"\n'
        'azure_api_key_env = "EAST_KEY"\n'
    )
    assert case.refuse("--endpoints", str(endpoints), env={"EAST_KEY": "k"}) == (
        f"error: --endpoints {endpoints}: endpoint 'east': azure_endpoint {v1} {v1_said}"
    )
    assert not case.state.exists()


def test_entra_id_sign_in_makes_auto_azure_and_refuses_any_other_backend(case: Case) -> None:
    """`ROWRELAY_AZURE_AUTH=entra` means Azure: with `auto` it wins over an OpenAI key in the environment
    (else the run went to OpenAI, or with no key to the emulator, and the setting did nothing), and an
    explicit other backend is refused rather than run without the sign-in the user asked for."""
    entra = {"ROWRELAY_AZURE_AUTH": "entra", "OPENAI_API_KEY": "sk-not-for-azure"}
    assert case.refuse(env=entra) == "error: the azure backend needs AZURE_OPENAI_ENDPOINT (not set)"
    for backend in ("openai", "emulator", "agent"):
        assert case.refuse("--backend", backend, env=entra) == (
            f"error: ROWRELAY_AZURE_AUTH=entra signs in to Azure OpenAI only, and this run's backend is "
            f"{backend}: use --backend azure, or unset ROWRELAY_AZURE_AUTH"
        )
    endpoints = case.tmp / "endpoints.toml"
    endpoints.write_text(
        '[[endpoints]]\nname = "west"\nbackend = "openai"\nazure_auth = "entra"\n'
        'api_key_env = "OPENAI_API_KEY"\n'
    )
    assert case.refuse("--endpoints", str(endpoints), env=entra) == (
        f"error: --endpoints {endpoints}: endpoint 'west': Microsoft Entra ID (azure_auth = entra, or "
        "ROWRELAY_AZURE_AUTH=entra) signs in to Azure OpenAI only, and this endpoint's backend is openai"
    )
    assert not case.state.exists()


def test_a_state_that_is_a_file_is_refused(case: Case) -> None:
    case.state.write_text("not a folder")
    assert case.refuse() == f"error: --state {case.state}: is a file, not a directory"
    assert case.state.read_text() == "not a folder"


def test_a_state_folder_holding_something_else_is_refused(case: Case) -> None:
    case.state.mkdir()
    (case.state / "notes.txt").write_text("mine")
    assert case.refuse() == (
        f"error: --state {case.state}: is not empty and holds no batch (no batch.json): "
        "choose a new or empty directory"
    )
    assert [p.name for p in case.state.iterdir()] == ["notes.txt"]


def _under_a_file(case: Case) -> tuple[Path, str]:
    (case.tmp / "a-file").write_text("x")
    return case.tmp / "a-file" / "out.csv", f"{case.tmp / 'a-file'} is not a directory"


def _under_proc(case: Case) -> tuple[Path, str]:
    return Path("/proc/rowrelay-nope/out.csv"), "cannot write in /proc (No such file or directory)"


def _unknown_extension(case: Case) -> tuple[Path, str]:
    return (
        case.tmp / "out.txt",
        "unknown output extension '.txt' (use one of .parquet, .pq, .csv, .tsv, .jsonl, .ndjson)",
    )


def _a_directory(case: Case) -> tuple[Path, str]:
    (case.tmp / "out.csv").mkdir()
    return case.tmp / "out.csv", "is a directory, not a file"


def _the_input(case: Case) -> tuple[Path, str]:
    """Once written over it: the next run read the output as its input and refused its result columns."""
    problem = (
        "the input file itself: the output would replace it, and the next run would read it as its input"
    )
    return case.source, problem


@pytest.mark.parametrize("where", [_under_a_file, _under_proc, _unknown_extension, _a_directory, _the_input])
def test_an_output_that_could_not_be_written_is_refused_up_front(
    case: Case, where: Callable[[Case], tuple[Path, str]]
) -> None:
    output, problem = where(case)
    assert case.refuse("--output", str(output)) == f"error: --output {output}: {problem}"
    assert not case.state.exists()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "--agent 'nocolon': expected module:function, e.g. mypackage.agents:make_agent"),
        (
            "missing.module:fn",
            "--agent 'missing.module:fn': cannot import 'missing.module': No module named 'missing'",
        ),
        ("json:not_a_function", "--agent 'json:not_a_function': module 'json' has no 'not_a_function'"),
        ("json:__doc__", "--agent 'json:__doc__': '__doc__' must be a function (client) -> Agent"),
        (
            "json:JSONDecodeError",
            "--agent 'json:JSONDecodeError': must be a function taking the client and returning an Agent "
            "(missing a required argument: 'doc')",
        ),
    ],
)
def test_a_bad_agent_is_refused(case: Case, spec: str, message: str) -> None:
    assert case.refuse("--agent", spec) == f"error: {message}"
    assert not case.state.exists()


def test_inputs_that_cannot_be_read_are_refused(case: Case) -> None:
    missing = case.tmp / "nope.csv"
    assert case.refuse(source=missing) == f"error: input file not found: {missing}"
    text = case.tmp / "tickets.txt"
    text.write_text("a,b\n")
    assert case.refuse(source=text) == (
        f"error: unknown input extension '.txt' for {text} "
        "(use one of .csv, .tsv, .parquet, .pq, .jsonl, .ndjson, .json)"
    )
    garbage = case.tmp / "tickets.parquet"
    garbage.write_bytes(b"not parquet")
    assert case.refuse(source=garbage).startswith(f"error: cannot read {garbage} as parquet: ")
    assert case.refuse("--template", "{subject} {nope}") == (
        "error: template names column(s) not in the input: nope (available: ticket_id, subject, body)"
    )
    assert case.refuse("--image-column", "photo") == (
        "error: image column 'photo' is not in the input (available: ticket_id, subject, body)"
    )
    assert case.refuse("--file-column", "pdf") == (
        "error: file column 'pdf' is not in the input (available: ticket_id, subject, body)"
    )
    assert not case.state.exists()


def test_input_columns_named_like_result_columns_are_refused_before_any_row_is_sent(case: Case) -> None:
    """The output adds them: the writer refused the clash only after every row had been paid for."""
    source = case.tmp / "with-error.csv"
    source.write_text("ticket_id,subject,body,error,cost_usd\nT-1,a,b,,\n")
    line = case.refuse(source=source)
    assert line == (
        f"error: {source}: input column(s) error, cost_usd clash with result columns: "
        "rename them in the input"
    )
    assert not case.state.exists()


def test_a_second_run_on_a_batch_a_live_runner_holds_is_refused_at_once_naming_it(case: Case) -> None:
    runner = StateTable.open(case.state)  # the live runner: this process, holding the batch's lease
    try:
        before = sorted(p.relative_to(case.state) for p in case.state.rglob("*"))
        started = time.monotonic()
        line = case.refuse()
        took = time.monotonic() - started
        assert sorted(p.relative_to(case.state) for p in case.state.rglob("*")) == before
    finally:
        runner.close()
    info = runner.lease.info
    assert line.startswith(f"error: {case.state}: writer 'main' is held by a live runner ")
    assert f"(host={info.host} pid={os.getpid()} since=" in line
    assert line.endswith("; wait for that run to end (or stop it), then run the same command to resume")
    # Found before Prefect's start-up (which alone takes longer than this): about 1.5 s here, mostly
    # Python's imports; the bound leaves room for a 2-core machine shared with other work.
    assert took < 10, took


_STRICT_OUTSIDE = {
    "type": "object",
    "properties": {"a": {"type": "string"}},
    "required": ["a"],
}


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.json", None, "cannot read it (No such file or directory); expected a JSON Schema file"),
        ("broken.json", "{not json", "not JSON (Expecting property name enclosed in double quotes"),
        ("list.json", "[1, 2]", "not a JSON Schema (a JSON object), found list"),
        ("invalid.json", '{"type": 5}', "not a valid JSON Schema (at type: 5 is not valid under any"),
        (
            "open.json",
            json.dumps(_STRICT_OUTSIDE),
            "strict structured outputs do not take this schema: In context=(), 'additionalProperties' "
            "is required to be supplied and to be false.",
        ),
        (
            "allof.json",
            json.dumps({**_STRICT_OUTSIDE, "additionalProperties": False, "allOf": [{}]}),
            "strict structured outputs do not take this schema: In context=(), 'allOf' is not permitted.",
        ),
    ],
)
def test_a_schema_file_that_strict_outputs_cannot_take_is_refused(
    case: Case, name: str, content: str | None, problem: str
) -> None:
    path = case.tmp / name
    if content is not None:
        path.write_text(content)
    assert case.refuse("--schema", str(path)).startswith(f"error: --schema {str(path)!r}: {problem}")
    from_env = case.refuse(env={"ROWRELAY_OUTPUT_SCHEMA": str(path)})  # named as it was given
    assert from_env.startswith(f"error: ROWRELAY_OUTPUT_SCHEMA {str(path)!r}: {problem}")
    assert not case.state.exists()


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("no_such_module:Triage", "cannot import 'no_such_module': No module named 'no_such_module'"),
        ("schema_models:Broken", "cannot import 'schema_models'"),
        ("plain_models:Triage", "'Triage' is not a Pydantic model (found type Triage)"),
        ("plain_models:Missing", "'Missing' is not a Pydantic model (found nothing by that name)"),
        ("plain_models:", "expected a .json file or module:Model, e.g. mypkg.models:Triage"),
    ],
)
def test_a_schema_model_that_does_not_import_or_is_not_pydantic_is_refused(
    case: Case, spec: str, problem: str
) -> None:
    modules = case.tmp / "modules"
    modules.mkdir()
    (modules / "plain_models.py").write_text("class Triage:\n    category: str\n")
    (modules / "schema_models.py").write_text("raise RuntimeError('cannot load')\n")
    line = case.refuse("--schema", spec, env={"PYTHONPATH": str(modules)})
    assert line.startswith(f"error: --schema {spec!r}: {problem}")
    assert not case.state.exists()


def test_schema_fields_named_like_input_columns_are_refused(case: Case) -> None:
    path = case.tmp / "clash.json"
    field = {"type": "string"}
    schema = {"type": "object", "properties": {"subject": field, "error": field}}
    path.write_text(json.dumps({**schema, "required": ["subject", "error"], "additionalProperties": False}))
    assert case.refuse("--schema", str(path)) == (
        f"error: --schema {str(path)!r}: field(s) subject, error are named like input or result columns; "
        "rename them in the schema"
    )


@pytest.mark.parametrize(
    ("options", "field"),
    [(("--tools", "web_search"), "citations"), (("--logprobs", "2"), "answer_logprob")],
)
def test_schema_fields_named_like_a_column_the_run_asked_for_are_refused(
    case: Case, options: tuple[str, ...], field: str
) -> None:
    """A typed column named like a column the run asks for (tool calls and citations, token log
    probabilities) would have overwritten it in the output, after every row was paid for."""
    path = case.tmp / "clash.json"
    schema = {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}
    path.write_text(json.dumps({**schema, "additionalProperties": False}))
    assert case.refuse("--schema", str(path), *options) == (
        f"error: --schema {str(path)!r}: field(s) {field} are named like input or result columns; "
        "rename them in the schema"
    )


def test_a_dask_scheduler_that_does_not_answer_is_refused(case: Case) -> None:
    from rowrelay.flows.detached import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    line = case.refuse("--dask", address)
    assert line.startswith(f"error: the Dask scheduler at {address}: no Dask scheduler answers ("), line
    assert not case.state.exists()


def test_a_dask_address_with_another_server_is_refused(case: Case, emulator: RunningEmulator) -> None:
    """Dask's own client waited for ever on a server that accepts and never answers (the dashboard's
    HTTP port typed for the scheduler's, say), and failed with a traceback on one that answers bytes
    that are no Dask frame."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never accepts, never answers
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        line = case.refuse("--dask", address)
    assert line.startswith(f"error: the Dask scheduler at {address}: no Dask scheduler answers ("), line
    assert "no Dask handshake came within" in line
    http = f"tcp://{urlsplit(emulator.url).netloc}"  # an HTTP server: the emulator
    line = case.refuse("--dask", http)
    assert line.startswith(f"error: the Dask scheduler at {http}: "), line
    assert not case.state.exists()


def test_dask_options_that_contradict_each_other_are_refused(case: Case) -> None:
    both = case.refuse("--dask", "tcp://127.0.0.1:8786", "--dask-workers", "2")
    assert both == "error: --dask, --dask-workers and task_runner= each choose the cluster: give one"
    assert case.refuse("--dask-workers", "0") == "error: --dask-workers 0: give at least 1 worker"
    capped = case.refuse("--dask-workers", "2", "--max-cost", "5")
    assert capped.startswith(
        "error: --max-cost with --dask/--dask-workers: the cost cap is kept by one process"
    )
    assert not case.state.exists()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_dask_cluster_with_no_workers_or_without_rowrelay_is_refused(case: Case) -> None:
    from distributed import LocalCluster

    from rowrelay.flows.cluster import LOCAL_CLUSTER_HTTP

    with LocalCluster(n_workers=0, processes=True, **LOCAL_CLUSTER_HTTP) as empty:  # type: ignore[no-untyped-call]
        # Waited for as a run waits for its workers gone mid-run, within the same bound: said at once.
        where = f"the Dask scheduler at {empty.scheduler_address}"
        waits = (
            f"WARNING rowrelay.cluster: {where} has no worker yet: the run waits for its first to join, "
            "up to 2 s (ROWRELAY_DASK_NO_WORKERS_AFTER sets how long; 0 waits for ever)"
        )
        bound = {"ROWRELAY_DASK_NO_WORKERS_AFTER": "2"}
        line = case.refuse("--dask", empty.scheduler_address, env=bound, warned=(waits,))
        assert line == (
            f"error: {where}: the cluster has no workers (none joined in 2 s; "
            "ROWRELAY_DASK_NO_WORKERS_AFTER sets how long a run waits for one)"
        )
        _interrupted_while_it_waits(case, empty.scheduler_address)
    hide = case.tmp / "hide_rowrelay.py"
    hide.write_text("import sys\nsys.modules['rowrelay'] = None  # a worker environment without rowrelay\n")
    bare_cluster = LocalCluster(n_workers=1, processes=True, preload=[str(hide)], **LOCAL_CLUSTER_HTTP)  # type: ignore[no-untyped-call]
    with bare_cluster as bare:
        where = f"error: the Dask scheduler at {bare.scheduler_address}"
        line = case.refuse("--dask", bare.scheduler_address)
        assert line.startswith(f"{where}: rowrelay is not installed on 1 worker(s) ("), line
        assert line.endswith("install rowrelay[dask] in every worker's environment"), line
    assert not case.state.exists()


def _interrupted_while_it_waits(case: Case, address: str) -> None:
    """Ctrl-C while the run waits for the cluster's first worker (the bound its default 60 s) stops it at
    once: exit 130, said, nothing started, rather than the refusal the bound would have come to."""
    command = [*IN_PROCESS, *case.args("--dask", address)]
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=case.env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_from_a_terminal,
    ) as run:
        assert run.stderr is not None
        waits = run.stderr.readline()
        assert "has no worker yet: the run waits for its first to join, up to 60 s" in waits, waits
        run.send_signal(signal.SIGINT)
        rest = run.stderr.read()
    assert run.returncode == 130, rest
    assert rest == "interrupted while checking the run, before anything started: nothing was sent\n"


def _ran_on(case: Case, backend: str, base_url: str | None, statuses: list[str]) -> None:
    """A last run on that server asking what the case's runs ask (the default model): only the server
    differs, as the same-server checks these serve are about."""
    planned = _planned(case, len(statuses))
    ran_on(case.state, case.output, backend, base_url, statuses, planned, model="gpt-4.1-mini")


def _planned(case: Case, count: int) -> list[tuple[str, int, str]]:
    """`count` rows as the batch planned them from its input (key, index, input hash), so that a run
    over that input finds no row changed under its id; made up past the input's end."""
    from rowrelay.tasks.dataset import InputSpec, prepare, read_input

    prepared = prepare(read_input(case.source), InputSpec(TEMPLATE, id_column="ticket_id"))
    planned = [(r.row_key, r.row_index, r.input_hash) for r in prepared.rows][:count]
    return planned + [(f"T-{i:05d}", i, f"hash {i}") for i in range(len(planned), count)]


_KEYED = {"OPENAI_API_KEY": "sk-test"}


def test_rows_holding_response_ids_are_not_resumed_on_another_server(case: Case) -> None:
    """Their ids would be unknown there (404): each row recorded expired and created again, paid twice."""
    _ran_on(case, "openai", "http://127.0.0.1:9/v1", ["completed", "queued", "in_progress", "pending"])
    before = sorted((p.relative_to(case.state), p.stat().st_mtime_ns) for p in case.state.rglob("*"))
    ids_from = "2 rows hold response ids from openai at http://127.0.0.1:9/v1, where the batch last ran"
    line = case.refuse()  # no key, no base URL: the embedded emulator
    assert line == (
        f"error: {case.state}: {ids_from}; this run would use the emulator, which does not know them, so "
        "they would be created and paid for again. Run on openai at http://127.0.0.1:9/v1 to collect "
        f"them, or cancel them there (`rowrelay cancel {case.state}`, with its key) and run again"
    )
    elsewhere = case.refuse("--base-url", "http://127.0.0.1:10/v1", env=_KEYED)
    assert f"{ids_from}; this run would use openai at http://127.0.0.1:10/v1, which" in elsewhere
    default = case.refuse(env=_KEYED)
    assert f"{ids_from}; this run would use openai (its default address), which" in default
    assert sorted((p.relative_to(case.state), p.stat().st_mtime_ns) for p in case.state.rglob("*")) == before


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(b"", "Parquet file size is 0 bytes", id="torn"),
        pytest.param(b"PAR1 not a footer", "Parquet magic bytes not found in footer", id="not parquet"),
        # its footer intact, its first page header overwritten: found only by reading the pages
        pytest.param(b"\xff" * 60, "Deserializing page header failed", id="damaged pages"),
    ],
)
def test_a_batch_with_a_damaged_state_file_is_refused_naming_it_before_anything_starts(
    case: Case, damage: bytes, reason: str
) -> None:
    """It was refused only once the run had read its table: after it had started the local Prefect
    server and the embedded emulator, and said so in three lines."""
    _ran_on(case, "emulator", None, ["completed", "pending"])
    [segment, *_] = sorted(case.state.glob("*/*.parquet"))  # a segment or the snapshot closing left
    if len(damage) == 60:
        damage = segment.read_bytes()[:4] + damage + segment.read_bytes()[64:]
    segment.write_bytes(damage)
    line = case.refuse()
    assert line.startswith(f"error: {segment}: torn, corrupt or of the wrong schema ("), line
    assert reason in line, line
    assert line.endswith(
        f"; run `rowrelay repair {case.state}` to move damaged files aside (`--dry-run` first shows which "
        "rows fall back to what)"
    ), line
    assert segment.read_bytes() == damage


def test_a_batch_run_on_a_backend_does_not_fall_back_to_the_emulator_without_being_told(case: Case) -> None:
    _ran_on(case, "openai", None, ["completed", "pending"])
    line = case.refuse()
    assert line == (
        f"error: {case.state}: the batch last ran on openai (its default address), and with no API key or "
        "base URL configured this run would use the embedded emulator, mixing emulated answers into its "
        "output: configure that backend again, or pass --backend emulator to mean it"
    )


def test_a_batch_the_emulator_answered_whose_input_grew_is_not_finished_on_a_backend(case: Case) -> None:
    """Every row of its state answered, the run would still send the input's new rows: it was let through."""
    _ran_on(case, "emulator", "http://127.0.0.1:9/v1", ["completed", "completed", "completed"])
    case.reaches_prefect()  # nothing left to send: the output is written again
    write_tickets(case.source, 4)
    line = case.refuse(env=_NOTHING_STARTED)
    assert line.startswith(
        f"error: {case.state}: the batch last ran on the emulator, and 3 rows are answered"
    )


def test_a_batch_the_emulator_answered_is_not_finished_on_a_backend(case: Case) -> None:
    """Answered rows are never sent again: the output would hold the emulator's answers beside real ones."""
    _ran_on(case, "emulator", "http://127.0.0.1:9/v1", ["completed", "completed", "pending"])
    line = case.refuse("--base-url", "http://127.0.0.1:10/v1", env=_KEYED)
    assert line == (
        f"error: {case.state}: the batch last ran on the emulator, and 2 rows are answered, never to be "
        "sent again: this run on openai at http://127.0.0.1:10/v1 would keep the emulator's answers in "
        "its output. Give it a state of its own (--state)"
    )


def test_a_changed_input_under_its_default_state_is_refused_where_an_earlier_batch_sent_its_rows(
    case: Case,
) -> None:
    """A default state is named by the input's contents: the file with a row added got a new batch, which
    sent the rows the earlier batch of it had sent again, paid twice, without a word (`earlier_batches`).
    A given --state, another model or another server is a batch of its own, and is let through."""
    states = case.tmp / "states"
    earlier = states / "tickets-0123456789"  # as `BatchRequest.state_dir` names a default state
    planned = _planned(case, 3)
    server = _NOTHING_STARTED["ROWRELAY_BASE_URL"]
    statuses = ["completed", "queued", "pending"]  # the pending row was never sent
    ran_on(earlier, case.output, "openai", server, statuses, planned, input=case.source, model="gpt-4.1-mini")
    write_tickets(case.source, 4)  # a row added
    before = sorted((p.relative_to(states), p.stat().st_mtime_ns) for p in states.rglob("*"))
    env = {**_NOTHING_STARTED, "ROWRELAY_STATE_DIR": str(states)}
    line = case.refuse(env=env, given_state=False)
    assert line.startswith(
        f"error: 2 rows of this input were already sent by {earlier}, a batch of tickets.csv before it "
        f"changed; as changed, the input gets a new default state ({states}/tickets-"
    ), line
    assert line.endswith(
        f") that would send them again, paid twice: resume that batch over the changed input with --state "
        f"{earlier} (rows are matched by key; new rows are planned), or pass --state NEW_DIR to send them "
        "again"
    ), line
    assert sorted((p.relative_to(states), p.stat().st_mtime_ns) for p in states.rglob("*")) == before
    case.reaches_prefect(env={"ROWRELAY_STATE_DIR": str(states)})  # --state given
    case.reaches_prefect("--model", "gpt-4.1", env={"ROWRELAY_STATE_DIR": str(states)}, given_state=False)
    elsewhere = {"ROWRELAY_STATE_DIR": str(states), "ROWRELAY_BASE_URL": "http://127.0.0.1:10/v1"}
    case.reaches_prefect(env=elsewhere, given_state=False)


@pytest.mark.parametrize("was", [None, "subject"])
def test_a_batch_is_not_resumed_keying_its_rows_otherwise_once_it_has_sent_some(
    case: Case, was: str | None
) -> None:
    """Under another --id-column (or one given or dropped) every input row has a new key: the run went on
    with a warning that the state's rows were not in the input, and sent every row again, answered or
    not, paid twice. A batch that has sent nothing may be keyed anew."""
    server = _NOTHING_STARTED["ROWRELAY_BASE_URL"]
    spec = {"template": TEMPLATE, "id_column": was}
    statuses = ["completed", "queued", "pending"]
    ran_on(case.state, case.output, "openai", server, statuses, _planned(case, 3), model="m", spec=spec)
    line = case.refuse("--model", "m", env=_NOTHING_STARTED)
    ran = "without one" if was is None else f"--id-column {was}"
    assert line == (
        f"error: {case.state}: this run keys rows by --id-column ticket_id (it ran {ran}): every row is new "
        "to the batch under these keys, and the 2 rows it has sent would be sent, and paid for, again. Run "
        "it as before to resume the batch, or give it a state of its own (--state) to send every row again"
    )
    unsent = ["pending"] * 3
    ran_on(
        case.tmp / "unsent", case.output, "openai", server, unsent, _planned(case, 3), model="m", spec=spec
    )
    case.reaches_prefect("--model", "m", "--state", str(case.tmp / "unsent"), given_state=False)


def test_an_input_keyed_otherwise_under_its_default_state_is_refused_where_an_earlier_batch_sent_its_rows(
    case: Case,
) -> None:
    """The earlier batch's advice was to resume it with --state, which is the refusal above: the input had
    not changed, only its keys, so the way on is to run it as that batch ran."""
    states = case.tmp / "states"
    earlier = states / "tickets-0123456789"  # as `BatchRequest.state_dir` names a default state
    spec = {"template": TEMPLATE, "id_column": None}
    statuses = ["completed", "queued", "pending"]
    server = _NOTHING_STARTED["ROWRELAY_BASE_URL"]
    ran_on(earlier, case.output, "openai", server, statuses, _planned(case, 3), input=case.source, spec=spec)
    env = {**_NOTHING_STARTED, "ROWRELAY_STATE_DIR": str(states)}
    line = case.refuse("--model", "m", env=env, given_state=False)
    assert line.startswith(
        f"error: 2 rows of this input were already sent by {earlier}, a batch of tickets.csv; this run keys "
        f"rows by --id-column ticket_id (it ran without one), so it gets a new default state ({states}/"
    ), line
    assert line.endswith(
        ") that would send them again, paid twice: run it as that batch ran, or pass --state NEW_DIR to send "
        "them again"
    ), line


def test_rows_whose_text_changed_under_their_ids_are_refused_before_anything_starts(case: Case) -> None:
    """The plan refuses a row whose input changed since the batch planned it (its answer would sit beside
    the new text): `run` said so only once Prefect and the emulator had started."""
    server, statuses = _NOTHING_STARTED["ROWRELAY_BASE_URL"], ["completed", "queued", "pending"]
    ran_on(case.state, case.output, "openai", server, statuses, _planned(case, 3), model="gpt-4.1-mini")
    case.reaches_prefect()  # the same input
    frame = pd.read_csv(case.source)
    frame.loc[0, "body"] = "My order 0 arrived broken."  # the completed row: T-00001 is still in flight
    frame.to_csv(case.source, index=False)
    line = case.refuse(env=_NOTHING_STARTED)
    assert line == (
        "error: 1 row changed input since this batch sent it (e.g. T-00000); use a new --state "
        "directory for the new input, or restore the old one, or --resend-edited to send only it again, "
        "as edited (paid for again)"
    )


def test_rows_waiting_on_an_endpoint_this_run_does_not_list_are_refused_before_anything_starts(
    case: Case,
) -> None:
    """Only the server that created a response can poll or cancel it: the plan refuses such rows, but
    `run` said so only once Prefect and the emulator had started."""
    server, statuses = _NOTHING_STARTED["ROWRELAY_BASE_URL"], ["queued", "pending", "pending"]
    ran_on(case.state, case.output, "openai", server, statuses, _planned(case, 3), model="gpt-4.1-mini")
    endpoints = case.tmp / "endpoints.json"
    endpoints.write_text(json.dumps([{"name": "east", "backend": "openai", "base_url": server,
                                      "api_key_env": "EAST_KEY", "rpm": 600}]))  # fmt: skip
    line = case.refuse("--endpoints", str(endpoints), env={**_NOTHING_STARTED, "EAST_KEY": "sk-east"})
    assert line == (
        "error: rows hold responses this run cannot reach (1 created without --endpoints): only the server "
        "that created a response can poll or cancel it; list in --endpoints that endpoint again (rows made "
        "without endpoints: run without --endpoints)"
    )
    case.reaches_prefect()  # without --endpoints, as it ran


_TRIAGE = {
    "type": "object",
    "properties": {"category": {"type": "string"}},
    "required": ["category"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("statuses", "rows", "refused"),
    [
        pytest.param(["completed", "queued", "pending"], 3, "mix", id="answers kept, rows left"),
        pytest.param(["completed", "completed", "completed"], 3, "nothing", id="nothing left to send"),
        pytest.param(["completed", "completed", "completed"], 4, "mix", id="the input grew"),
        pytest.param(["pending", "pending", "pending"], 3, None, id="no answer kept"),
    ],
)
@pytest.mark.parametrize("change", ["model", "schema", "effort", "temperature", "tools"])
def test_a_batch_is_not_resumed_asking_something_else_of_a_row_while_it_holds_the_last_runs_answers(
    case: Case, statuses: list[str], rows: int, refused: str | None, change: str
) -> None:
    """Rows answered (or on their way) keep their answers and are never sent again; the rows left, or
    new in the input, were sent the new way, and the output held both kinds of answer (two models', or a
    schema's typed column empty on the rows of the first), nothing in it telling which is which. With
    nothing left to send, the run went ahead: it sent nothing, exited 0 as if it had run the new way, and
    recorded the batch as asked the new way, so rows added to the input later were sent so unrefused."""
    server = _NOTHING_STARTED["ROWRELAY_BASE_URL"]
    ran_on(case.state, case.output, "openai", server, statuses, _planned(case, 3), model="gpt-4.1-mini")
    write_tickets(case.source, rows)
    schema = case.tmp / "triage.json"
    schema.write_text(json.dumps(_TRIAGE))
    options = {
        "model": ["--model", "gpt-4.1"],
        "schema": ["--schema", str(schema)],
        "effort": ["--reasoning-effort", "high"],
        "temperature": ["--temperature", "0"],
        "tools": ["--tools", "web_search"],
    }[change]
    if not refused:
        case.reaches_prefect(*options)
        return
    line = case.refuse(*options, env=_NOTHING_STARTED)
    kept = statuses.count("completed") + statuses.count("queued")
    what = {
        "model": "--model gpt-4.1 (it ran --model gpt-4.1-mini)",
        "schema": f"--schema {schema} (it had none)",
        "effort": "--reasoning-effort high (it ran without one)",
        "temperature": "--temperature 0 (it ran without one)",
        "tools": "--tools web_search (it ran without tools)",
    }[change]
    if refused == "nothing":
        assert line == (
            f"error: {case.state}: every row holds (or awaits) the answer of the batch's last run, and this "
            f"run asks something else of a row: {what}. It would send nothing: run it as before, or give it "
            "a state of its own (--state) to send every row this way"
        )
    else:
        assert line == (
            f"error: {case.state}: {kept} rows hold their answers (or await them) from the batch's last "
            f"run, never to be sent again, and this run asks something else of a row: {what}. Its answers "
            "would sit beside those in the output, nothing telling them apart: run it as before to finish "
            "the batch, or give it a state of its own (--state) to send every row this way"
        )
    case.reaches_prefect()  # as before


def test_a_batch_a_release_before_temperature_was_recorded_ran_is_resumed_at_any_temperature(
    case: Case,
) -> None:
    """Its record cannot say which temperature its answers were given at (the option may have been
    given): refusing would be a guess, so the run goes on as that release's did."""
    server = _NOTHING_STARTED["ROWRELAY_BASE_URL"]
    ran_on(case.state, case.output, "openai", server, ["completed", "pending"], _planned(case, 2), model="m")
    record = json.loads((case.state / "run.json").read_text())
    del record["temperature"]
    (case.state / "run.json").write_text(json.dumps(record))
    write_tickets(case.source, 2)
    case.reaches_prefect("--model", "m", "--temperature", "0")


def test_other_instructions_are_named_where_every_row_would_be_sent_otherwise(case: Case) -> None:
    """The rows' requests change with the run's instructions (or template); the refusal read as if the
    input file had been edited ("3 rows changed input since this batch was planned"), when it had not."""
    server = _NOTHING_STARTED["ROWRELAY_BASE_URL"]
    write_tickets(case.source, 3)
    planned = _planned(case, 3)
    ran_on(
        case.state,
        case.output,
        "openai",
        server,
        ["completed", "pending", "pending"],
        planned,
        model="gpt-4.1-mini",
    )
    record = json.loads((case.state / "run.json").read_text())
    record["spec"] = {
        "template": TEMPLATE,
        "prompt_column": None,
        "id_column": "ticket_id",
        "instructions": None,
    }
    (case.state / "run.json").write_text(json.dumps(record))
    line = case.refuse("--instructions", "Be terse.", env=_NOTHING_STARTED)
    assert line == (
        f"error: {case.state}: this run's --instructions 'Be terse.' (it ran without one), so 3 rows would "
        "be sent otherwise than the batch planned them (e.g. T-00000, T-00001, T-00002): run it as the batch "
        "ran, or give it a state of its own (--state) to send every row this way"
    )


NO_CHAT_STREAM = (
    "Chat Completions has no stream mode: it has no background mode, and each row's answer comes whole "
    "with its create; leave the mode out, or stream with --backend openai or azure"
)


def test_stream_mode_on_chat_completions_is_refused_as_it_was_given(case: Case) -> None:
    chat = ("--backend", "chat", "--base-url", "http://127.0.0.1:9/v1")
    key = {"OPENAI_API_KEY": "sk-unused"}
    assert case.refuse(*chat, "--mode", "stream", env=key) == f"error: --mode: {NO_CHAT_STREAM}"
    said = case.refuse(*chat, env={**key, "ROWRELAY_MODE": "stream"})
    assert said == f"error: ROWRELAY_MODE: {NO_CHAT_STREAM}"
    assert not case.state.exists()
