"""A problem raised to a Python caller names the parameter it gave (`rpm`, `output_schema`, `max_cost`),
not the command line's option (`--rpm`, `--schema`, `--max-cost`), which it never saw
(`setting_problems.words_of`): from `run_batch`, before any flow run, and from `open_session` called
directly. The command line's words are unchanged (tests/flows/test_usage_errors.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.run import open_session
from tests.support.prefect_records import flow_runs_on
from tests.support.runs import new_table, prompts, settings_for

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
