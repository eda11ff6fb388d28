"""A problem raised to a Python caller names the parameter it gave (`rpm`, `output_schema`, `max_cost`),
not the command line's option (`--rpm`, `--schema`, `--max-cost`), which it never saw
(`setting_problems.words_of`): from `run_batch`, before any flow run, and from `open_session` called
directly. The command line's words are unchanged (tests/flows/test_usage_errors.py and test_cli.py say
the same refusals with the options).

Where a message advises a value, it is one a notebook can type (`backend='openai' or 'azure'`, not
`--backend openai or azure`), and a run's own lines (`limit=1: ... the same call without limit`) are said
so too."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.run import open_session
from tests.support.prefect_records import flow_runs_on
from tests.support.runs import flow_args, new_table, prompts, settings_for
from tests.support.said import Said
from tests.support.tickets import write_tickets

FRAME = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"]})


async def _refused(tmp_path: Path, **options: object) -> str:
    from rowrelay.flows.batch import run_batch

    state = tmp_path / "state"
    arguments = {
        "template": "{text}",
        "id_column": "id",
        "backend": "emulator",
        "state": str(state),
        **options,
    }
    with pytest.raises(UsageError) as refused:
        await run_batch(FRAME, **arguments)
    assert await flow_runs_on(state) == []
    assert not state.exists()
    return str(refused.value)


async def test_a_setting_given_to_run_batch_is_named_as_its_parameter(
    prefect_api: str, tmp_path: Path
) -> None:
    assert await _refused(tmp_path, rpm=-5) == "rpm: must be at least 1 (got -5)"
    schema = tmp_path / "schema.json"
    schema.write_text("{not json", encoding="utf-8")
    assert (await _refused(tmp_path, output_schema=str(schema))).startswith(
        f"output_schema {str(schema)!r}: "
    )


async def test_a_setting_from_the_environment_is_still_named_as_its_variable(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROWRELAY_RPM", "-5")
    assert await _refused(tmp_path) == "ROWRELAY_RPM: must be at least 1 (got '-5')"


async def test_a_check_of_the_input_names_the_parameter(prefect_api: str, tmp_path: Path) -> None:
    taken = tmp_path / "out.parquet"
    taken.mkdir()  # a folder where the output file would go
    said = await _refused(tmp_path, output=str(taken))
    assert said.startswith(f"output={taken}: "), said


async def test_open_session_called_directly_names_its_settings_fields(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    table = new_table(tmp_path / "batch", 3)
    settings = settings_for(emulator, model="my-own-model", max_cost=1.0)
    with pytest.raises(UsageError) as refused:
        open_session(settings, table, prompts(3))
    table.close()
    said = str(refused.value)
    assert said.startswith("max_cost: no openai price known for model 'my-own-model', "), said
    assert said.endswith("and pass it with prices=FILE or ROWRELAY_PRICES"), said


_ANSWERS = "http://127.0.0.1:9/v1"
"""A base URL nothing answers, for a backend the checks need one for: nothing is ever sent to it."""
_AGENT = "tests.llm.agent_factories:make_agent"


async def _refused_up_front(tmp_path: Path, **options: object) -> str:
    """What `run_batch` of `options` raises, said before it asks anything of Prefect or of a server:
    Prefect's API is an address nothing answers (a call past its check would fail on it instead), and no
    emulator was started nor state written."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from rowrelay.flows.batch import run_batch

    state = tmp_path / "state"
    arguments = {"template": "{text}", "id_column": "id", "backend": "emulator", "state": str(state)}
    with (
        temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}),
        pytest.raises(UsageError) as refused,
    ):
        await run_batch(FRAME, **{**arguments, **options})
    assert not state.exists()
    assert not (tmp_path / "home" / "emulator.json").exists()
    return str(refused.value)


@pytest.fixture
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A home of the test's own, and no key or server of the machine's: as test_usage_errors' commands."""
    monkeypatch.setenv("ROWRELAY_HOME", str(tmp_path / "home"))
    for variable in ("OPENAI_API_KEY", "ROWRELAY_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.usefixtures("_home")
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": 0}, "limit: must be a whole number of rows, at least 1 (got 0)"),
        ({"image_detail": "low"}, "image_detail: no image_column is given, so no row sends an image"),
        ({"dask": " "}, "dask: names no scheduler; give its address, e.g. tcp://10.0.0.5:8786"),
        (
            {"dask": "tcp://127.0.0.1:8786", "dask_workers": 2},
            "dask, dask_workers and task_runner= each choose the cluster: give one",
        ),
        ({"dask_workers": 0}, "dask_workers=0: give at least 1 worker"),
        (
            {"dask_workers": 2, "max_cost": 5},
            "max_cost with dask/dask_workers: the cost cap is kept by one process; run without a cluster "
            "to cap the cost",
        ),
        (
            {"fail_when_failed": "lots"},
            "fail_when_failed: expected a row count (N, e.g. 5) or a share of the rows (P%, e.g. 2.5%), "
            "got 'lots'",
        ),
        ({"max_tool_calls": 5}, "max_tool_calls: no tools are given, so no row's response calls a tool"),
        (
            {"tools": "web_search", "backend": "chat", "base_url": _ANSWERS},
            "tools: Chat Completions runs no server-side tools (backend='openai' or 'azure')",
        ),
        (
            {"reasoning_summary": "auto", "backend": "chat", "base_url": _ANSWERS},
            "reasoning_summary: Chat Completions writes no reasoning summary; ask the Responses API for "
            "one (backend='openai' or 'azure')",
        ),
        (
            {"mode": "stream", "backend": "chat", "base_url": _ANSWERS},
            "mode: Chat Completions has no stream mode: it has no background mode, and each row's answer "
            "comes whole with its create; leave the mode out, or stream with backend='openai' or 'azure'",
        ),
        (
            {"logprobs": 3, "agent": _AGENT},
            "logprobs: an agent hands back its answer's text, not its tokens' log probabilities "
            "(backend='openai', 'azure' or 'chat' give them)",
        ),
        (
            {"model": "o4-mini-deep-research", "tools": "code_interpreter"},
            "model='o4-mini-deep-research': a deep research model needs a web search, file search or MCP "
            "tool to research with, and OpenAI refuses it any create without one: add "
            "tools='web_search_preview' (or a JSON file of file_search or mcp tools)",
        ),
        ({"tools": []}, "tools: no tool in the list: name at least one, or leave tools out"),
        ({"agent": "nocolon"}, "agent='nocolon': expected module:function, e.g. mypackage.agents:make_agent"),
        (
            {"backend": "openai"},
            "no API key: set OPENAI_API_KEY (or ROWRELAY_API_KEY; a server that checks none takes any "
            "value), or use backend='emulator'",
        ),
    ],
)
async def test_a_refusal_before_the_run_names_parameters_and_values_a_caller_can_type(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    assert await _refused_up_front(tmp_path, **options) == message


@pytest.mark.usefixtures("_home")
async def test_a_template_field_it_cannot_take_is_sent_to_prompt_column(tmp_path: Path) -> None:
    said = await _refused_up_front(tmp_path, template="{text:>3}")
    assert "rename it in the input, or use prompt_column)" in said, said


async def test_a_runs_own_lines_name_the_parameter(prefect_api: str, tmp_path: Path) -> None:
    """A trial run of `limit` rows says in its log what it left, and how to send it: the same call
    without `limit`, where it said the same command without `--limit`, a command the notebook never ran."""
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", 3)
    # A handler of its own: Prefect's logging setup, on its first import here (the line above, when this
    # test is the worker's first to import it), drops caplog's from the root logger.
    logger, kept = logging.getLogger("rowrelay.flow"), Said(logging.INFO)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(kept)
    try:
        with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.01"))) as emu:
            result = await run_batch(str(source), **flow_args(tmp_path, emu, limit=1))
    finally:
        logger.removeHandler(kept)
        logger.setLevel(level)
    assert result.counts["completed"] == 1
    said = kept.messages
    assert "limit=1: 2 rows to send left for a later run (the same call without limit)" in said, said
    finished = next(line for line in said if " finished: " in line)
    assert "; 2 left for a later run (limit);" in finished, finished
