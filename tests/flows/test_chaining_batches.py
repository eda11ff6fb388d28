"""One batch's output as the next batch's input, as README's "Chaining batches" says: given as it is, the
output is refused in one line that names the way on (its result columns clash with the next run's);
given as README's DuckDB line selects it, the next batch runs with the first one's answers in its prompts.
The installed CLI, against the emulator over a real socket and the session's Prefect server."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.tickets import write_tickets

ROWS = 3


def test_an_output_is_refused_as_input_naming_the_way_on_and_runs_once_selected(
    prefect_env: dict[str, str], tmp_path: Path, emulator: RunningEmulator
) -> None:
    env = env_for(prefect_env, emulator)
    first = tmp_path / "first"
    first.mkdir()
    source = write_tickets(first / "tickets.csv", ROWS)
    output = first / "out.parquet"
    done = rowrelay([*run_args(source, first)[:-1], str(output)], env)
    assert done.returncode == 0, done.stderr[-3000:]

    second = tmp_path / "second"
    second.mkdir()
    state = ["--state", str(second / "state"), "--output", str(second / "out.parquet")]
    # what a user writes first: the answer by the name the output gave it
    naive = ["--id-column", "ticket_id", "--template", "Draft a reply to: {body} (triage: {output_text})"]
    refused = rowrelay(["run", str(output), *naive, *state], env)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert refused.stderr.strip().splitlines() == [
        f"error: {output}: input column(s) rowrelay_status, output_text, error, input_tokens, output_tokens,"
        " reasoning_tokens, cached_input_tokens, cost_usd clash with result columns: the input is a rowrelay"
        " output; select the columns the next batch reads, renaming output_text (README, 'Chaining batches')"
    ]
    assert not (second / "state").exists()

    # README's line, as written there but for the paths
    selected = second / "triaged.parquet"
    duckdb.sql(
        "COPY (SELECT ticket_id, body, output_text AS triage "
        f"FROM '{output}' WHERE rowrelay_status = 'completed') TO '{selected}'"
    )
    template = ["--id-column", "ticket_id", "--template", "Draft a reply to: {body} (triage: {triage})"]
    with running_emulator(EmulatorConfig()) as other:  # its own server: the jobs it counts are this batch's
        chained = rowrelay(["run", str(selected), *template, *state], env_for(prefect_env, other))
        assert chained.returncode == 0, chained.stderr[-3000:]
        assert_every_job_is_paid_for(load(second / "state"), *jobs_of(other.url))
    assert_every_job_is_paid_for(load(first / "state"), *jobs_of(emulator.url))
    answers = pd.read_parquet(output).set_index("ticket_id")["output_text"]
    result = pd.read_parquet(second / "out.parquet").set_index("ticket_id")
    assert (result["rowrelay_status"] == "completed").all()
    assert result["triage"].to_dict() == answers.to_dict()
