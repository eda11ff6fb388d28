"""A row's crash quoting the key reaches none of what a whole run writes: the output's `error` column,
the state table, the logs of this process (Prefect's included) and the run's Prefect records.

`run_batch` in-process, as from a notebook, against the emulator (which takes only the key); the crash
is made where a bug would be: rowrelay's own recording of one row's accepted create raises, its words
quoting the key (tests/run/test_crash_words_masked.py covers the paths of a run without the flow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.llm.masking import MASK
from rowrelay.tasks.run import record
from tests.support.leaks import every_log_record, files_holding
from tests.support.prefect_records import flow_run_on, logs_of
from tests.support.tickets import TEMPLATE, write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SECRET = "sk-test-CRASHOUT-5e1f0c9a7b3d4321"
FRAGMENT = SECRET[8:-4]
KEY_VARIABLES = (
    "OPENAI_API_KEY", "ROWRELAY_API_KEY", "AZURE_OPENAI_API_KEY", "ROWRELAY_AZURE_API_KEY",
    "OPENAI_BASE_URL", "ROWRELAY_BASE_URL", "AZURE_OPENAI_ENDPOINT", "ROWRELAY_AZURE_ENDPOINT",
    "ROWRELAY_BACKEND",
)  # fmt: skip
ROWS = 3
VICTIM = 2
"""The ticket whose row crashes: its prompt is the only one naming ticket 2's id."""


async def test_a_crash_quoting_the_key_is_written_masked_in_the_output(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch

    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    original = record.accepted
    crashed: list[str] = []

    def accepted(*args: Any, **kwargs: Any) -> Any:
        if not crashed:  # the first row accepted crashes, as a bug reading its answer would
            crashed.append(args[1].row_key)
            raise KeyError(f"no 'output' in the answer to a request signed 'Bearer {SECRET}'")
        return original(*args, **kwargs)

    monkeypatch.setattr(record, "accepted", accepted)
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    output = tmp_path / "out.jsonl"
    with running_emulator(EmulatorConfig(api_key=SECRET)) as emu, every_log_record() as logged:
        state = await run_batch(
            str(source), template=TEMPLATE, id_column="ticket_id", state=str(tmp_path / "state"),
            output=str(output), backend="openai", base_url=emu.url, max_attempts=1, return_state=True,
        )  # fmt: skip
        await state.aresult(raise_on_failure=False)
    assert len(crashed) == 1
    written = pd.read_json(output, lines=True)
    errors = [str(error) for error in written["error"] if isinstance(error, str)]
    assert len(errors) == 1, written.to_dict("records")  # the crashed row's, the others completed
    assert f"Bearer {MASK}" in errors[0]
    assert any("crashed" in line and "Traceback" in line for line in logged)
    assert [line for line in logged if FRAGMENT in line] == []
    assert files_holding(tmp_path, FRAGMENT) == []  # the output, the state table decoded
    from prefect.logging.handlers import APILogHandler

    await APILogHandler.aflush()  # a run in this process sends its logs to the server in the background
    run = await flow_run_on(tmp_path / "state")
    assert FRAGMENT not in run.model_dump_json()
    stored = [log.message for log in await logs_of(run.id)]
    assert any("crashed" in message for message in stored)
    assert [message for message in stored if FRAGMENT in message] == []
    assert files_holding(Path(prefect_env["PREFECT_HOME"]), FRAGMENT) == []
