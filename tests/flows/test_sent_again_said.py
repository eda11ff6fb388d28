"""The run after a kill -9 says, at its close, the rows it sent again whose earlier creates may have run, and
what those may have cost: through the flow on a real Prefect API and the emulator over a socket.

A trial killed a chat run mid-send and ran the same command: the resume sent again 5 rows the server had
already answered, and its closing lines said nothing of possible duplicates (only `status` showed
`orphans 5`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import RowRequest, estimate_tokens, make_backend
from rowrelay.tasks.llm.prices import load_prices
from rowrelay.tasks.records import usd
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import StateTable, load
from tests.support.prefect_records import logs_of
from tests.support.runs import creates_per_row, flow_args
from tests.support.tickets import TEMPLATE, write_tickets

OUTPUT = 64
KILLED = 5
CONFIG = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), output_tokens=(OUTPUT, OUTPUT), seed=4)
"""Answers of exactly the run's output ceiling (ROWRELAY_MAX_OUTPUT_TOKENS): every row completes."""


async def _killed_mid_send(state: Path, source: Path, url: str) -> list[str]:
    """The batch as a run killed while its first rows' creates were on the wire leaves it: each written
    `submitting`, created on the server (its job runs), its id never kept."""
    prepared = prepare(read_input(source), InputSpec(TEMPLATE, None, "ticket_id", None))
    keys: list[str] = prepared.planned().column("row_key").to_pylist()[:KILLED]  # type: ignore[assignment]
    backend = make_backend(Settings(backend="emulator", base_url=url))
    try:
        with StateTable.open(state) as table:
            table.add_pending(prepared.planned())
            for key in keys:
                table.transition(key, "submitting")  # as a run writes it: the open counts the attempt
                await backend.create(
                    RowRequest(key, prepared.prompt(key), None, "gpt-4.1-mini", {"rowrelay_row": key})
                )
    finally:
        await backend.aclose()
    return keys


async def test_the_run_after_a_kill_says_the_rows_it_sent_again_and_what_they_may_have_cost(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.logging.handlers import APILogHandler
    from rich.console import Console

    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.closing_summary import closing_summary

    monkeypatch.setenv("ROWRELAY_MAX_OUTPUT_TOKENS", str(OUTPUT))
    source = write_tickets(tmp_path / "tickets.csv", 12)
    with running_emulator(CONFIG) as emu:
        killed = await _killed_mid_send(tmp_path / "state", source, emu.url)
        state = await run_batch(str(source), **flow_args(tmp_path, emu), return_state=True)
        jobs = creates_per_row(emu)
    result = await state.aresult()
    assert result.all_completed
    frame = load(tmp_path / "state").set_index("row_key")
    for key in killed:  # sent again: two jobs, both counted on the row, one of them an orphan
        assert (jobs[key], frame.loc[key, "attempts"], frame.loc[key, "orphans"]) == (2, 2, 1), key
    assert (result.rows_sent_again, result.creates_lost_before) == (KILLED, KILLED)
    # The cap's estimate of a lost create: the row's prompt and the output estimate at the model's rates.
    rates = load_prices(None).rates("openai", "gpt-4.1-mini", "default")
    assert rates is not None
    prepared = prepare(read_input(source), InputSpec(TEMPLATE, None, "ticket_id", None))
    tokens = sum(estimate_tokens(prepared.prompt(key)) for key in killed)
    estimate = (tokens * rates.input + KILLED * OUTPUT * rates.output) / 1e6
    assert result.lost_before_usd == pytest.approx(estimate, rel=0.02)  # the create path's token count

    def line(cap: str, output: str) -> str:  # the options as the caller gives them
        return (
            f"possible duplicate jobs: this run sent 5 rows again whose 5 earlier creates lost their answer "
            f"(a run killed or cut off while sending), so the server may have run (and billed) those jobs "
            f"too, which the cost shown does not include; {cap} counts them at "
            f"{usd(result.lost_before_usd)}, an estimate (each at its row's prompt and the run's output "
            f"estimate, {output} where set: no usage came back for them); `rowrelay status "
            f"{result.state_dir}` counts them (orphans); the provider's usage page says what was billed"
        )

    console = Console(file=(tmp_path / "said.txt").open("w"), width=80)
    closing_summary(console, result)
    console.file.close()
    cli = line("--max-cost", "--max-output-tokens")
    assert cli in (tmp_path / "said.txt").read_text()  # the CLI's closing lines
    await APILogHandler.aflush()
    assert state.state_details.flow_run_id is not None
    said = [log.message for log in await logs_of(state.state_details.flow_run_id)]  # as Prefect's UI shows
    assert said.count(line("max_cost", "max_output_tokens")) == 1, said  # this run_batch call's


async def test_a_later_run_that_sends_none_of_those_rows_says_nothing_of_them(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Their orphans stay on the rows; the line is said by the run that sends them again, not by every
    run after it (a nightly deployment would say it every night)."""
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv("ROWRELAY_MAX_OUTPUT_TOKENS", str(OUTPUT))
    source = write_tickets(tmp_path / "tickets.csv", 6)
    with running_emulator(CONFIG) as emu:
        await _killed_mid_send(tmp_path / "state", source, emu.url)
        resumed = await run_batch(str(source), **flow_args(tmp_path, emu))
        again = await run_batch(str(source), **flow_args(tmp_path, emu))
    assert resumed.all_completed
    assert resumed.rows_sent_again == KILLED
    assert again.all_completed
    assert (again.rows_sent_again, again.creates_lost_before, again.lost_before_usd) == (0, 0, None)
    assert (load(tmp_path / "state")["orphans"] > 0).sum() == KILLED  # still counted by `status`
