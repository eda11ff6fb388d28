"""`rowrelay deploy`'s options reach every scheduled run's parameters; a bad one is refused before the
deployment is served (the serving itself is `test_deployment.py`'s, against a real Prefect API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rowrelay.flows import deploy
from rowrelay.flows.cli import app
from tests.support.last_run import ran_on
from tests.support.tickets import TEMPLATE, write_tickets


@pytest.fixture(autouse=True)
def _an_api_configured(prefect_api: str) -> None:
    """The session's Prefect API configured: with none, `deploy` starts rowrelay's local Prefect server in
    the test's home (a deployment needs a server that schedules), which these tests, serving nothing,
    left running after them."""


def _deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *options: str, cron: str = "0 3 * * *"
) -> tuple[int, str, list[dict[str, Any]]]:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(deploy, "serve_deployment", lambda **given: served.append(given))
    monkeypatch.setenv("ROWRELAY_HOME", str(tmp_path / "home"))
    source = write_tickets(tmp_path / "tickets.csv", 5)
    args = ["deploy", str(source), "--cron", cron, "--name", "drip", "--template", TEMPLATE,
            "--id-column", "ticket_id", "--state", str(tmp_path / "state"), *options]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert not (tmp_path / "home" / "prefect-server.json").exists(), "no server of its own started"
    return result.exit_code, result.output, served


def test_each_scheduled_run_sends_at_most_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, said, served = _deploy(tmp_path, monkeypatch, "--limit", "2")
    assert code == 0, said
    assert [entry["parameters"]["limit"] for entry in served] == [2]
    assert served[0]["parameters"]["state"] == str((tmp_path / "state").resolve())


def test_without_a_limit_a_scheduled_run_sends_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, said, served = _deploy(tmp_path, monkeypatch)
    assert code == 0, said
    assert "limit" not in served[0]["parameters"]


def test_a_limit_below_one_is_refused_before_anything_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, said, served = _deploy(tmp_path, monkeypatch, "--limit", "0")
    assert code == 2
    assert "--limit" in said
    assert served == []


def test_how_each_scheduled_run_sends_is_what_run_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nightly job's rates, attempts and cost cap were only its serving process's environment: set at
    deploy time now, as `run` takes them, and seen in the deployment's parameters (the Prefect UI)."""
    prices = tmp_path / "prices.json"
    prices.write_text("{}")
    tools = tmp_path / "tools.json"
    tools.write_text('[{"type": "web_search"}]')
    code, said, served = _deploy(
        tmp_path, monkeypatch, "--mode", "stream", "--rpm", "1200", "--tpm", "90000", "--poll-rpm", "6000",
        "--max-in-flight", "40", "--max-attempts", "2", "--max-cost", "5", "--instructions", "Be brief.",
        "--give-up-after", "600", "--prices", str(prices), "--reasoning-effort", "low", "--temperature", "0",
        "--max-output-tokens", "2000", "--tools", str(tools), "--max-tool-calls", "8",
        "--image-column", "body", "--image-detail", "low", "--file-column", "subject", "--logprobs", "3",
    )  # fmt: skip
    assert code == 0, said
    parameters = served[0]["parameters"]
    expected = {
        "mode": "stream", "rpm": 1200, "tpm": 90_000, "poll_rpm": 6000, "max_in_flight": 40,
        "max_attempts": 2, "max_cost": 5.0, "instructions": "Be brief.", "give_up_after": 600.0,
        "prices": str(prices.resolve()), "reasoning_effort": "low", "temperature": 0.0,
        "max_output_tokens": 2000, "tools": '[{"type":"web_search"}]', "max_tool_calls": 8,
        "image_column": "body", "image_detail": "low", "file_column": "subject", "logprobs": 3,
    }  # fmt: skip
    assert {name: parameters.get(name) for name in expected} == expected


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--mode", "sideways", "mode"),
        ("--rpm", "0", "rpm"),
        ("--max-cost", "-1", "max-cost"),
        ("--reasoning-effort", "lots", "reasoning-effort"),
        ("--temperature", "9", "temperature"),
        ("--tools", "web", "tools"),
    ],
)
def test_a_bad_run_option_is_refused_before_anything_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, value: str, said: str
) -> None:
    code, output, served = _deploy(tmp_path, monkeypatch, option, value)
    assert (code, served) == (2, [])
    assert output.startswith(f"error: --{said}"), output
    assert output.count("\n") == 1, output


@pytest.mark.parametrize(
    ("cron", "said"),
    [
        ("every day", '"every day" has 2 fields'),
        ("0 2 * *", '"0 2 * *" has 4 fields'),
        ("61 2 * * *", 'Invalid cron string: "61 2 * * *"'),
        ("@reboot", 'Invalid cron string: "@reboot"'),
    ],
)
def test_a_cron_prefect_cannot_schedule_is_refused_in_one_line_before_anything_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cron: str, said: str
) -> None:
    """It was a traceback (exit 1) from Prefect once its server had started. (More than five fields:
    test_deploy_refusals.py.)"""
    code, output, served = _deploy(tmp_path, monkeypatch, cron=cron)
    assert (code, served) == (2, [])
    assert output == (
        f"error: --cron: {said}; five fields, minute hour day-of-month month day-of-week, e.g. '0 2 * * *' "
        "(02:00 daily), or one of @hourly, @daily, @weekly, @monthly, @yearly\n"
    )
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("cron", ["@daily", "@hourly", "0 2 L * *", "0 2 * * mon-fri"])
def test_a_nickname_or_a_five_field_extension_prefect_schedules_is_served_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cron: str
) -> None:
    """Only the field count is rowrelay's own check: `@daily` is '0 0 * * *' to cron and to Prefect alike,
    and what five fields may hold (L, names, ranges) is Prefect's to say."""
    code, said, served = _deploy(tmp_path, monkeypatch, cron=cron)
    assert code == 0, said
    assert [entry["cron"] for entry in served] == [cron]


def test_each_option_deploy_shares_with_run_is_explained_as_runs_is() -> None:
    """`deploy --help` said only "Prompt template." or "Output file." where `run --help` explains each:
    both take the help from one declaration (flows/run_options.py)."""
    import typer.main

    from rowrelay.flows.deploy_command import app as deploy_app
    from rowrelay.flows.run_command import app as run_app

    def helps(app: typer.Typer) -> dict[str, str | None]:
        command = typer.main.get_command(app)
        return {param.name: getattr(param, "help", None) for param in command.params if param.name}

    ran, deployed = helps(run_app), helps(deploy_app)
    own = {"input", "state", "limit"}  # what a scheduled run reads, keeps and sends differs from a run's
    shared = sorted(set(ran) & set(deployed) - own)
    assert {"template", "prompt_column", "id_column", "output", "model", "rpm"} <= set(shared)
    assert {name: deployed[name] for name in shared} == {name: ran[name] for name in shared}


def test_a_redeployment_asking_another_model_of_a_batch_with_rows_left_is_refused_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every scheduled run would be refused (flows/same_server.py): said once, at deploy time."""
    monkeypatch.setenv("ROWRELAY_BACKEND", "emulator")
    state, output = tmp_path / "state", tmp_path / "out.csv"
    ran_on(state, output, "emulator", None, ["completed", "pending"], _planned(tmp_path), model="m1")
    code, said, served = _deploy(tmp_path, monkeypatch, "--model", "m2")
    assert code == 2, said
    assert "this run asks something else of a row: --model m2 (it ran --model m1)" in " ".join(said.split())
    assert served == []
    code, said, served = _deploy(tmp_path, monkeypatch, "--model", "m1")
    assert code == 0, said
    assert len(served) == 1


def test_a_redeployment_whose_rows_changed_input_since_the_state_planned_them_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another template over the same state: every scheduled run would stop at its plan, so deploy says it."""
    monkeypatch.setenv("ROWRELAY_BACKEND", "emulator")
    ran_on(
        tmp_path / "state",
        tmp_path / "out.csv",
        "emulator",
        None,
        ["completed", "pending"],
        _planned(tmp_path),
    )
    assert _deploy(tmp_path, monkeypatch, "--model", "m")[0] == 0  # the template it was planned with
    code, said, served = _deploy(tmp_path, monkeypatch, "--model", "m", "--template", "Again: {subject}")
    assert code == 2, said
    assert " ".join(said.split()).startswith(
        "error: 1 row changed input since this batch sent it (e.g. T-00000); use a new --state directory"
    )  # the pending rows would take the new template: only the row sent holds an answer to the old one
    assert served == []


def _planned(tmp_path: Path) -> list[tuple[str, int, str]]:
    """The rows `_deploy`'s input plans with its template: a state its scheduled runs resume."""
    from rowrelay.tasks.dataset import InputSpec, prepare, read_input

    source = write_tickets(tmp_path / "tickets.csv", 5)
    prepared = prepare(read_input(source), InputSpec(TEMPLATE, id_column="ticket_id"))
    return [(r.row_key, r.row_index, r.input_hash) for r in prepared.rows]
