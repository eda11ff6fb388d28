"""Cost and the cost cap through the flow and the CLI, on a real Prefect API and the emulator."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.records import rows, usd
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.prefect_records import artifacts_of, logs_of
from tests.support.runs import creates_per_row, flow_args
from tests.support.tickets import write_tickets

EXACT = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), output_tokens=(64, 64), seed=2)
"""Answers of exactly the run's output ceiling (`ROWRELAY_MAX_OUTPUT_TOKENS=64`): without one, a row's
estimate assumes 1,024 output tokens until answers have been seen, and a small cap would send nothing."""


async def test_the_flow_stops_at_the_cap_says_why_and_a_higher_cap_finishes(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv("ROWRELAY_MAX_OUTPUT_TOKENS", "64")
    source = write_tickets(tmp_path / "tickets.csv", 30)
    with running_emulator(EXACT) as emu:
        args = flow_args(tmp_path, emu, max_in_flight=4)
        state = await run_batch(str(source), **args, max_cost=0.002, return_state=True)
        capped = await state.aresult()
        assert capped.stopped is not None
        assert capped.cost_usd is not None
        assert capped.stopped.startswith(
            f"cost cap reached: spent {usd(capped.cost_usd)} of max_cost $0.002;"  # as run_batch takes it
        )
        assert f"{rows(capped.counts['pending'])} not sent" in capped.stopped
        assert 0 < capped.counts["completed"] < 30
        assert capped.cost_usd is not None
        assert 0 < capped.cost_usd <= 0.002
        assert state.state_details.flow_run_id is not None
        artifacts = {a.type: a for a in await artifacts_of(state.state_details.flow_run_id)}
        summary = {row["metric"]: row["value"] for row in orjson.loads(str(artifacts["table"].data))}
        assert summary["cost_usd"] == pytest.approx(capped.cost_usd, abs=1e-6)
        assert summary["projected_cost_usd"] > summary["cost_usd"]

        done = await run_batch(str(source), **args, max_cost=1.0)
        assert done.all_completed
        assert done.stopped is None
        assert set(creates_per_row(emu).values()) == {1}
    output = pd.read_parquet(done.output)
    assert (output["cost_usd"] > 0).all()
    assert output["cost_usd"].sum() == pytest.approx(done.cost_usd)
    assert (output["cached_input_tokens"] == 0).all()  # the sample prompts are short: no cache hits


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_cli_exits_1_at_the_cap_naming_what_was_spent_and_the_same_command_resumes(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 20)
    with running_emulator(EXACT) as emu:
        env = env_for(prefect_env, emu, ROWRELAY_MAX_IN_FLIGHT="3", ROWRELAY_MAX_OUTPUT_TOKENS="64")
        first = rowrelay([*run_args(source, tmp_path), "--max-cost", "0.001", "--mode", "stream"], env)
        assert first.returncode == 1, first.stderr[-3000:]
        frame = load(tmp_path / "state")
        remaining = int((frame["status"] == "pending").sum())
        assert remaining > 0
        spent = float(frame["cost_usd"].sum())
        said = " ".join(first.stderr.split())  # the console wraps long lines
        assert (
            f"cost cap reached: spent {usd(spent)} of --max-cost $0.001; {rows(remaining)} not sent" in said
        )
        status = rowrelay(["status", str(tmp_path / "state")], env)
        assert f"cost {usd(spent)} spent" in status.stdout
        again = rowrelay([*run_args(source, tmp_path), "--max-cost", "0.01", "--mode", "stream"], env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert set(creates_per_row(emu).values()) == {1}
    assert (load(tmp_path / "state")["status"] == "completed").all()


def test_the_progress_line_shows_the_money_only_when_the_run_knows_its_prices() -> None:
    from rowrelay.flows.console_progress import money
    from rowrelay.tasks.run import Progress
    from rowrelay.tasks.run.context import RunCounters

    unpriced = Progress({"completed": 3}, 10, 1.0, RunCounters())
    assert money(unpriced) == ""
    priced = Progress({"completed": 3}, 10, 1.0, RunCounters(), spent_usd=0.0123, projected_usd=0.041)
    assert money(priced) == "  spent $0.0123 of ~$0.041"


@pytest.mark.parametrize(
    ("amount", "said"),
    [
        (0.0, "$0"),
        (0.00004567, "$0.00004567"),  # a trial row of a small model: `$0.0000` before
        (0.0123, "$0.0123"),
        (0.041, "$0.041"),
        (0.5, "$0.50"),
        (0.99999, "$1.00"),
        (1.0, "$1.00"),
        (1234.5678, "$1,234.57"),
    ],
)
def test_dollar_amounts_keep_cents_and_show_fractions_of_a_cent(amount: float, said: str) -> None:
    assert usd(amount) == said


def test_the_closing_summary_of_a_capped_run_says_why_and_exits_1(tmp_path: Path) -> None:
    from rich.console import Console

    from rowrelay.flows.batch_result import BatchResult
    from rowrelay.flows.closing_summary import closing_summary

    stopped = "cost cap reached: spent $0.0099 of --max-cost $0.0100; 120 rows not sent; run ..."
    result = BatchResult("b", "state", "out.parquet", {"completed": 80, "pending": 120}, "emulator", None,
                         0.0099, 0.0247, stopped)  # fmt: skip
    console = Console(file=(tmp_path / "said.txt").open("w"), width=200)
    assert closing_summary(console, result) == 1
    console.file.close()
    said = (tmp_path / "said.txt").read_text()
    assert "cost: $0.0099 (whole batch: ~$0.0247)" in said
    assert stopped in said


async def test_a_model_with_no_price_is_named_before_anything_is_sent_and_its_cost_is_unknown(
    prefect_api: str, tmp_path: Path
) -> None:
    """A model newer than the price table (or a deployment named otherwise) is paid for all the same: the
    run says at its start that it cannot count the money, and its close says the cost is unknown rather
    than leaving the line out."""
    from prefect.logging.handlers import APILogHandler
    from rich.console import Console
    from typer.testing import CliRunner

    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.cli import app
    from rowrelay.flows.closing_summary import closing_summary

    source = write_tickets(tmp_path / "tickets.csv", 3)
    with running_emulator(EXACT) as emu:
        args = flow_args(tmp_path, emu, model="gpt-9-turbo")
        state = await run_batch(str(source), **args, return_state=True)
    result = await state.aresult()
    assert result.all_completed
    assert result.cost_usd is None
    assert state.state_details.flow_run_id is not None
    await APILogHandler.aflush()  # the records go to the server in batches, from a worker thread
    said = [log.message for log in await logs_of(state.state_details.flow_run_id)]  # as Prefect's UI shows
    warned = [m for m in said if m.startswith("no openai price known for model 'gpt-9-turbo': its rows get")]
    assert len(warned) == 1, said
    assert "prices=FILE" in warned[0]  # a call from Python: its parameter, not the option
    assert said.index(warned[0]) < next(i for i, m in enumerate(said) if m.startswith("batch "))  # before
    console = Console(file=(tmp_path / "said.txt").open("w"), width=200)
    assert closing_summary(console, result) == 0
    console.file.close()
    assert (
        "cost: unknown: no price for the model, or answers without their token usage"
        in (tmp_path / "said.txt").read_text()
    )
    status = CliRunner().invoke(app, ["status", str(tmp_path / "state")])
    assert status.exit_code == 0, status.output
    assert "cost unknown: no row has a price" in status.output
