"""A resumed batch keeps the prices it ran with, unless its run is given others.

A user trial: a batch capped twice under `--prices` (gpt-4.1-mini at $100/$400 per 1M tokens), then
resumed with a higher cap and no `--prices`, sent its last rows at the shipped prices and ended
"cost: $3.00", exit 0, nothing said: rows priced two ways in one batch, its cap counting the new rows at
the cheaper prices. Here the CLI as users run it, on the emulator, each answer of exactly 64 tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.records import usd
from rowrelay.tasks.state import RUN_FILE, load
from tests.support.cli import env_for, rowrelay, run_args
from tests.support.tickets import write_tickets

EXACT = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), output_tokens=(64, 64), seed=2)
ROWS = 12
CONTRACT = (100.0, 400.0)
"""The price file's gpt-4.1-mini, USD per 1M input and output tokens: 250 times the shipped."""
KEPT = "prices: as this batch ran with (recorded in run.json)"
REPRICED = "this run prices the rows it sends from now at its prices"


def _price_file(path: Path, rates: tuple[float, float]) -> Path:
    entry = {"default": {"input": rates[0], "cached_input": rates[0], "output": rates[1]}}
    path.write_text(json.dumps({"providers": {"openai": {"gpt-4.1-mini": entry}}}))
    return path


def _run(source: Path, tmp_path: Path, env: dict[str, str], *extra: str) -> str:
    """`rowrelay run` of the batch with `extra` options, and what it said (its lines unwrapped)."""
    done = rowrelay([*run_args(source, tmp_path), "--model", "gpt-4.1-mini", *extra], env)
    said = " ".join((done.stdout + done.stderr).split())
    assert "Traceback" not in said, said[-3000:]
    assert done.returncode in (0, 1), said[-3000:]
    return said


def _priced_at(tmp_path: Path) -> dict[str, tuple[float, float] | None]:
    """Each answered row's prices, told from its tokens and recorded cost_usd: (input, output) per 1M
    tokens, as the row's cost is one of the rates tried."""
    frame = load(tmp_path / "state")
    tried = [CONTRACT, (200.0, 800.0), (0.4, 1.6)]  # the file's, another file's, the shipped
    priced: dict[str, tuple[float, float] | None] = {}
    for key, cost, tokens_in, tokens_out in zip(
        frame["row_key"], frame["cost_usd"], frame["input_tokens"], frame["output_tokens"], strict=True
    ):
        if cost != cost:  # NaN: not answered
            continue
        found = [r for r in tried if cost == pytest.approx((tokens_in * r[0] + tokens_out * r[1]) / 1e6)]
        priced[key] = found[0] if found else None
    return priced


def _recorded(tmp_path: Path) -> object:
    return json.loads((tmp_path / "state" / RUN_FILE).read_text()).get("prices")


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(EXACT) as emu:
        yield emu


def _env(prefect_env: dict[str, str], emu: RunningEmulator) -> dict[str, str]:
    return env_for(prefect_env, emu, ROWRELAY_MAX_IN_FLIGHT="1", ROWRELAY_MAX_OUTPUT_TOKENS="64")


@pytest.mark.timeout(400)
def test_a_batch_capped_under_a_price_file_and_resumed_without_it_keeps_its_prices(
    prefect_env: dict[str, str], emu: RunningEmulator, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    env = _env(prefect_env, emu)
    prices = _price_file(tmp_path / "contract.json", CONTRACT)
    first = _run(source, tmp_path, env, "--prices", str(prices), "--max-cost", "0.05")
    assert "cost cap reached" in first, first[-3000:]
    second = _run(source, tmp_path, env, "--prices", str(prices), "--max-cost", "0.1")
    assert "cost cap reached" in second, second[-3000:]
    assert KEPT not in first + second
    assert REPRICED not in first + second
    capped = len(_priced_at(tmp_path))
    assert 0 < capped < ROWS
    prices.unlink()  # the file may move or change: the record holds its prices by value

    third = _run(source, tmp_path, env, "--max-cost", "10")
    assert third.count(KEPT) == 1, third[-3000:]
    assert REPRICED not in third
    priced = _priced_at(tmp_path)
    assert len(priced) == ROWS
    assert set(priced.values()) == {CONTRACT}, priced
    frame = load(tmp_path / "state")
    spent = float(frame["cost_usd"].sum())
    assert f"cost: {usd(spent)}" in third, third[-3000:]
    status = " ".join(rowrelay(["status", str(tmp_path / "state")], env).stdout.split())
    assert f"cost {usd(spent)} spent" in status, status
    assert _recorded(tmp_path) == {
        "providers": {"openai": {"gpt-4.1-mini": {"aliases": [], "default": {
            "input": 100.0, "output": 400.0, "cached_input": 100.0}}}},
        "tool_calls": {},
    }  # fmt: skip


@pytest.mark.timeout(400)
def test_a_resume_given_other_prices_says_it_reprices_what_it_sends(
    prefect_env: dict[str, str], emu: RunningEmulator, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    env = _env(prefect_env, emu)
    contract = _price_file(tmp_path / "contract.json", CONTRACT)
    dearer = _price_file(tmp_path / "dearer.json", (200.0, 800.0))
    first = _run(source, tmp_path, env, "--prices", str(contract), "--max-cost", "0.05")
    assert "cost cap reached" in first, first[-3000:]
    before = _priced_at(tmp_path)

    again = _run(source, tmp_path, env, "--prices", str(dearer), "--max-cost", "10")
    assert again.count(REPRICED) == 1, again[-3000:]
    assert f"--prices {dearer} given" in again
    assert KEPT not in again
    priced = _priced_at(tmp_path)
    assert len(priced) == ROWS
    assert {key: priced[key] for key in before} == before  # rows answered keep their recorded cost
    assert {priced[key] for key in priced if key not in before} == {(200.0, 800.0)}
    entry = _recorded(tmp_path)["providers"]["openai"]["gpt-4.1-mini"]  # type: ignore[index]
    assert entry["default"]["output"] == 800.0


@pytest.mark.timeout(400)
def test_a_batch_never_given_prices_records_none_and_follows_the_shipped_ones(
    prefect_env: dict[str, str], emu: RunningEmulator, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    env = _env(prefect_env, emu)
    first = _run(source, tmp_path, env, "--max-cost", "0.0003")
    assert "cost cap reached" in first, first[-3000:]
    assert _recorded(tmp_path) is None
    assert "prices" in json.loads((tmp_path / "state" / RUN_FILE).read_text())  # null, not absent
    again = _run(source, tmp_path, env, "--max-cost", "10")
    assert KEPT not in again
    assert REPRICED not in again
    priced = _priced_at(tmp_path)
    assert len(priced) == ROWS
    assert set(priced.values()) == {(0.4, 1.6)}, priced
    assert not (tmp_path / "state" / "prices.json").exists()


@pytest.mark.timeout(400)
def test_a_model_priced_only_by_the_file_resumes_capped_without_it(
    prefect_env: dict[str, str], emu: RunningEmulator, tmp_path: Path
) -> None:
    """The cap's check before the run (no price known, exit 2) takes the batch's recorded prices too."""
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    env = _env(prefect_env, emu)
    entry = {"default": {"input": CONTRACT[0], "output": CONTRACT[1]}}
    prices = tmp_path / "deployment.json"
    prices.write_text(json.dumps({"providers": {"openai": {"our-deployment": entry}}}))
    command = [*run_args(source, tmp_path), "--model", "our-deployment"]
    first = rowrelay([*command, "--prices", str(prices), "--max-cost", "0.05"], env)
    assert first.returncode == 1, first.stderr[-3000:]
    again = rowrelay([*command, "--max-cost", "10"], env)
    said = " ".join((again.stdout + again.stderr).split())
    assert again.returncode == 0, said[-3000:]
    assert said.count(KEPT) == 1
    costs = load(tmp_path / "state")["cost_usd"]
    assert costs.notna().all()
    assert f"cost: {usd(float(costs.sum()))}" in said
    other = _price_file(tmp_path / "other.json", CONTRACT)  # gpt-4.1-mini's alone: given, it is the one
    refused = rowrelay([*command, "--prices", str(other), "--max-cost", "20"], env)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert "no openai price known for model 'our-deployment'" in " ".join(refused.stderr.split())
