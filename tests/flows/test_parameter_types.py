"""A run's own parameters of the wrong type, from Python, are one `UsageError` naming the parameter and the
type it takes, raised before any flow run, state directory or request exists.

Each got past `BatchRequest.build`: `template=123` was Python's bare `TypeError`, `instructions=5` and
`fail_when_failed=5` an `AttributeError`, `agent=make_agent` a failed flow run with Prefect's tracebacks,
and `id_column=0` a planned batch whose `run.json` rowrelay then refused as damaged (`rowrelay repair`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.errors import UsageError
from tests.llm.agent_factories import make_agent
from tests.support.prefect_records import flow_runs_on

FRAME = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], 0: ["p", "q"]})
WRONG: dict[str, tuple[dict[str, Any], str]] = {
    "template=123": ({"template": 123}, "template: must be the prompt's template, a string"),
    "template=bytes": ({"template": b"{text}"}, "template: must be the prompt's template, a string"),
    "id_column=0": (
        {"id_column": 0},
        "id_column: must be one column's name, a string; a column named 0 is given as '0' (got int 0)",
    ),
    "prompt_column=0": (
        {"template": None, "prompt_column": 0},
        "prompt_column: must be one column's name, a string; a column named 0 is given as '0'",
    ),
    "id_column=[...]": (
        {"id_column": ["id"]},
        "id_column: must be one column's name, a string (got list ['id'])",
    ),
    "image_column=1.0": ({"image_column": 1.0}, "image_column: must be one column's name, a string"),
    "instructions=5": ({"instructions": 5}, "instructions: must be text (a string) (got int 5)"),
    "fail_when_failed=5": ({"fail_when_failed": 5}, "fail_when_failed: must be a string: a row count 'N'"),
    "state=123": ({"state": 123}, "state: must be a path (a string or a pathlib.Path) (got int 123)"),
    "output=123": ({"output": 123}, "output: must be a path"),
    "dask=1": ({"dask": 1}, "dask: must be a Dask scheduler's address, a string"),
    "dask_workers='2'": ({"dask_workers": "2"}, "dask_workers: must be a whole number of worker processes"),
    "agent=function": (
        {"agent": make_agent},
        "agent: must be 'module:function', the name (a string) of a factory (client) -> Agent that a run "
        "imports: give agent='tests.llm.agent_factories:make_agent' (got function make_agent)",
    ),
    "agent=lambda": (
        {"agent": lambda client: client},
        "agent: must be 'module:function', the name (a string) of a factory (client) -> Agent that a run "
        "imports, from a module of yours (a notebook's or a script's has no importable name) (got function "
        "<lambda>)",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_a_parameter_of_the_wrong_type_is_one_usage_error_naming_it(case: str) -> None:
    options, said = WRONG[case]
    with pytest.raises(UsageError) as refused:
        BatchRequest.build(FRAME, **{"template": "{text}", **options})
    assert str(refused.value).startswith(said), str(refused.value)
    assert "\n" not in str(refused.value)


def test_an_agent_is_refused_too_and_the_name_suggested_for_a_factory_builds() -> None:
    import openai
    from agent_framework.openai import OpenAIChatClient

    client = openai.AsyncOpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    agent = make_agent(OpenAIChatClient(model="gpt-4.1-mini", async_client=client))
    with pytest.raises(UsageError, match=r"^agent: must be 'module:function'.* \(got Agent\)$"):
        BatchRequest.build(FRAME, template="{text}", agent=agent)  # type: ignore[arg-type]
    from rowrelay.tasks.llm.agent_factory import load_agent_factory

    with pytest.raises(UsageError, match=r"^--agent: expected module:function, a string \(got function\)$"):
        load_agent_factory(make_agent)  # type: ignore[arg-type]  # a worker's job holds what was built
    named = "tests.llm.agent_factories:make_agent"
    assert load_agent_factory(named) is make_agent
    assert BatchRequest.build(FRAME, template="{text}", agent=named).agent == named


def test_column_names_as_strings_are_taken() -> None:
    request = BatchRequest.build(FRAME, prompt_column="0", id_column="id", state=Path("s"), dask_workers=2)
    assert (request.spec.prompt_column, request.spec.id_column, request.dask_workers) == ("0", "id", 2)


@pytest.mark.parametrize(
    "case", ["id_column=0", "prompt_column=0", "instructions=5", "fail_when_failed=5", "agent=function"]
)
async def test_run_batch_refuses_it_before_any_flow_run_or_state(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, case: str
) -> None:
    from rowrelay.flows.batch import run_batch

    options, said = WRONG[case]
    state = tmp_path / "state"
    arguments = {"template": "{text}", "backend": "emulator", "state": str(state), **options}
    with pytest.raises(UsageError) as refused:
        await run_batch(FRAME, **arguments)
    assert str(refused.value).startswith(said)
    assert await flow_runs_on(state) == []
    assert not state.exists()
