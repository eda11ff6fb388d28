"""A key the server repeats back in its errors reaches nothing a run writes, prints or hands to Prefect.

`rowrelay run` in its own process, its key in OPENAI_API_KEY, against a server that quotes the key it got
(tests/support/key_echo.py): a 401 stops the run (one line printed), a row's 400 fails each row (its
message recorded in the state table, the output's `error` column, `rowrelay status`, the failed-rows
artifact). The key is looked for in what was printed, every file under the test's directory (the state
table decoded), and the run's Prefect records: the flow run with its state, its artifacts, its stored
logs, and every file of the Prefect server's home (its database, events and result storage included).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from rowrelay.tasks.llm.calls import BackendRefusedError
from rowrelay.tasks.llm.masking import MASK
from tests.support.cli import rowrelay, run_args
from tests.support.key_echo import FRAGMENT, SAYS, SECRET, key_echo_server
from tests.support.leaks import every_log_record, files_holding
from tests.support.local_prefect import stopped_afterwards
from tests.support.prefect_records import artifacts_of, flow_run_on, logs_of
from tests.support.tickets import TEMPLATE, write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

KEY_VARIABLES = (
    "OPENAI_API_KEY", "ROWRELAY_API_KEY", "AZURE_OPENAI_API_KEY", "ROWRELAY_AZURE_API_KEY",
    "OPENAI_BASE_URL", "ROWRELAY_BASE_URL", "AZURE_OPENAI_ENDPOINT", "ROWRELAY_AZURE_ENDPOINT",
    "ROWRELAY_BACKEND",
)  # fmt: skip
ROWS = 3


@pytest.fixture(autouse=True)
def _home_left_stopped(tmp_path: Path) -> Iterator[None]:
    with stopped_afterwards(tmp_path / "home"):  # the warm runner a run leaves
        yield


def env_for(prefect_env: dict[str, str], home: Path, url: str) -> dict[str, str]:
    env = {name: value for name, value in prefect_env.items() if name not in KEY_VARIABLES}
    return {
        **env, "ROWRELAY_HOME": str(home), "PREFECT_LOGGING_LEVEL": "INFO",
        "ROWRELAY_BACKEND": "openai", "OPENAI_BASE_URL": url, "OPENAI_API_KEY": SECRET,
    }  # fmt: skip


def printed(*results: CompletedProcess[str]) -> str:
    return "".join(result.stdout + result.stderr for result in results)


async def prefect_records_of(state: Path, prefect_env: dict[str, str]) -> str:
    """The run's flow run (its state's message), artifacts and stored logs, as text; checks first that
    the key is in no file of the Prefect server's home."""
    assert files_holding(Path(prefect_env["PREFECT_HOME"]), FRAGMENT) == []
    run = await flow_run_on(state)
    artifacts = await artifacts_of(run.id)
    logs = await logs_of(run.id)
    assert artifacts, "the run published no artifact: nothing was checked"
    assert logs, "the server stored no log of the run: nothing was checked"
    return "\n".join(
        [run.model_dump_json(), *(a.model_dump_json() for a in artifacts), *(x.message for x in logs)]
    )


async def test_a_key_a_401_repeats_is_masked_where_the_refusal_is_told(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with key_echo_server("401") as url:
        result = rowrelay(["-v", *run_args(source, tmp_path)], env_for(prefect_env, tmp_path / "home", url))
    assert result.returncode == 2, result.stderr[-3000:]  # refused: the user's to fix
    said = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(said) == 1, said
    assert f"{SAYS['401']}: Bearer {MASK}" in said[0]
    assert FRAGMENT not in printed(result)
    assert files_holding(tmp_path, FRAGMENT) == []
    recorded = await prefect_records_of(tmp_path / "state", prefect_env)
    assert SAYS["401"] in recorded
    assert FRAGMENT not in recorded


async def test_a_key_each_rows_400_repeats_is_masked_in_the_rows_records(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    env = env_for(prefect_env, tmp_path / "home", "")
    with key_echo_server("400") as url:
        result = rowrelay(["-v", *run_args(source, tmp_path)], {**env, "OPENAI_BASE_URL": url})
    status = rowrelay(["status", str(tmp_path / "state")], env)
    as_json = rowrelay(["status", str(tmp_path / "state"), "--json"], env)
    assert result.returncode == 1, result.stderr[-3000:]  # every row failed; the run itself finished
    output = (tmp_path / "out.csv").read_text()
    assert output.count(f"{SAYS['400']} Bearer {MASK}") == ROWS  # the output's error column
    assert SAYS["400"] in status.stdout
    assert SAYS["400"] in as_json.stdout
    assert FRAGMENT not in printed(result, status, as_json)
    assert files_holding(tmp_path, FRAGMENT) == []  # the state table's files decoded
    recorded = await prefect_records_of(tmp_path / "state", prefect_env)
    assert SAYS["400"] in recorded  # the failed-rows artifact
    assert FRAGMENT not in recorded


async def test_a_run_from_python_refused_with_its_key_quoted_keeps_it_out_of_prefect(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run_batch` in this process, as from a notebook: the error it raises, this process's logs (every
    logger's, down to DEBUG) and Prefect's records of the failed run (its exception is pickled into the
    result storage under PREFECT_HOME)."""
    from prefect.logging.handlers import APILogHandler

    from rowrelay.flows.batch import run_batch

    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    with (
        key_echo_server("401") as url,
        every_log_record() as logged,
        pytest.raises(BackendRefusedError) as raised,
    ):
        await run_batch(
            str(source), template=TEMPLATE, id_column="ticket_id", state=str(tmp_path / "state"),
            output=str(tmp_path / "out.csv"), backend="openai", base_url=url,
        )  # fmt: skip
    told = "".join(traceback.format_exception(raised.value))
    assert f"{SAYS['401']}: Bearer {MASK}" in told
    assert FRAGMENT not in told
    assert any(line.startswith("prefect.flow_runs") for line in logged)  # Prefect's flow-run logs
    assert [line for line in logged if FRAGMENT in line] == []
    assert files_holding(tmp_path, FRAGMENT) == []
    await APILogHandler.aflush()  # a run in this process sends its logs to the server in the background
    recorded = await prefect_records_of(tmp_path / "state", prefect_env)
    assert SAYS["401"] in recorded
    assert FRAGMENT not in recorded
