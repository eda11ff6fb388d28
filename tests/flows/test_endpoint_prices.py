"""Each endpoint's rows priced at that endpoint's own model, and the cost cap counting them so, on two real
emulators over real sockets through the flow on a real Prefect API; an endpoint whose model has no price
refused under a cap, naming it, before anything starts.

A trial's endpoints file named `model = "Qwen/Qwen3-8B"` for a chat endpoint and the run `--model
gpt-4.1-mini`: the rows said Qwen3-8B but cost gpt-4.1-mini's rates, and `--max-cost` capped those figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm.prices import Rates, cost_usd, load_prices
from rowrelay.tasks.state import load
from tests.support.prefect_records import logs_of
from tests.support.preforked import Preforked, preforked
from tests.support.refused_run import refused_line
from tests.support.runs import creates_per_row
from tests.support.tickets import TEMPLATE, write_tickets

OUTPUT = 64
EXACT = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), output_tokens=(OUTPUT, OUTPUT), seed=3)
"""Answers of exactly the run's output ceiling: a row's estimate is then what it costs, near enough."""
PRICES = load_prices(None)


def _rates(model: str) -> Rates:
    rates = PRICES.rates("openai", model, "default")
    assert rates is not None
    return rates


def _endpoints(east: RunningEmulator, west: RunningEmulator, west_model: str) -> list[dict[str, Any]]:
    """East serves the run's `--model`; west names its own, five times dearer (gpt-4.1)."""
    return [
        {"name": "east", "backend": "emulator", "base_url": east.url, "rpm": 600},
        {"name": "west", "backend": "emulator", "base_url": west.url, "rpm": 600, "model": west_model},
    ]


def _billed(frame: Any) -> float:
    """What the servers' answers cost at the models they served: each row's tokens at its endpoint's."""
    models = {"east": "gpt-4.1-mini", "west": "gpt-4.1"}
    return sum(
        cost_usd(_rates(models[row.endpoint]), input_tokens=int(row.input_tokens), cached_tokens=0,
                 output_tokens=int(row.output_tokens))
        for row in frame.itertuples()
        if row.input_tokens == row.input_tokens  # not NaN: the row was answered
    )  # fmt: skip


async def _run(
    tmp_path: Path, rows: int, west_model: str = "gpt-4.1", **options: Any
) -> tuple[Any, Any, dict[str, Any]]:
    from rowrelay.flows.batch import run_batch

    source = write_tickets(tmp_path / "tickets.csv", rows)
    with running_emulator(EXACT) as east, running_emulator(EXACT) as west:
        result = await run_batch(
            str(source), template=TEMPLATE, id_column="ticket_id", state=str(tmp_path / "state"),
            output=str(tmp_path / "out.parquet"), model="gpt-4.1-mini",
            endpoints=_endpoints(east, west, west_model), **options,
        )  # fmt: skip
        jobs = {"east": creates_per_row(east), "west": creates_per_row(west)}
    return result, load(tmp_path / "state"), jobs


async def test_each_endpoints_rows_are_priced_at_its_own_model(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROWRELAY_MAX_OUTPUT_TOKENS", str(OUTPUT))
    result, frame, _ = await _run(tmp_path, 12)
    assert result.all_completed
    assert set(frame["endpoint"]) == {"east", "west"}
    for row in frame.itertuples():
        model = "gpt-4.1" if row.endpoint == "west" else "gpt-4.1-mini"
        expected = cost_usd(
            _rates(model), input_tokens=int(row.input_tokens), cached_tokens=0, output_tokens=OUTPUT
        )
        assert row.cost_usd == pytest.approx(expected, rel=1e-9), (row.row_key, row.endpoint)
    assert result.cost_usd == pytest.approx(_billed(frame), rel=1e-9)


async def test_the_cap_counts_each_endpoints_rows_at_its_own_price_and_is_never_passed(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Priced at the run's `--model`, west's rows were counted at a fifth of what they cost: a cap of
    $0.004 let through about thirty rows, billed some $0.01."""
    monkeypatch.setenv("ROWRELAY_MAX_OUTPUT_TOKENS", str(OUTPUT))
    cap = 0.004
    result, frame, jobs = await _run(tmp_path, 40, max_cost=cap, max_in_flight=4)
    assert result.stopped is not None
    assert result.stopped.startswith("cost cap reached: ")
    assert 0 < result.counts["completed"] < 40
    assert {"east", "west"} <= set(frame.dropna(subset=["input_tokens"])["endpoint"])
    for row in frame.itertuples():  # every job the servers ran is a row's counted attempt
        assert jobs["east"][row.row_key] + jobs["west"][row.row_key] == row.attempts, row.row_key
    assert _billed(frame) <= cap
    assert result.cost_usd == pytest.approx(_billed(frame), rel=1e-9)


async def test_an_endpoints_model_with_no_price_is_said_at_the_start_and_its_rows_get_no_cost(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.logging.handlers import APILogHandler

    monkeypatch.setenv("ROWRELAY_MAX_OUTPUT_TOKENS", str(OUTPUT))
    result, frame, _ = await _run(tmp_path, 8, west_model="Qwen/Qwen3-8B", return_state=True)
    state = result
    result = await state.aresult()
    assert result.all_completed
    west, east = frame[frame["endpoint"] == "west"], frame[frame["endpoint"] == "east"]
    assert len(west)
    assert len(east)
    assert west["cost_usd"].isna().all()  # no made-up figure: gpt-4.1-mini's rates were given them
    assert (east["cost_usd"] > 0).all()
    await APILogHandler.aflush()
    said = [log.message for log in await logs_of(state.state_details.flow_run_id)]
    warned = [m for m in said if m.startswith("endpoint 'west': no openai price known for model 'Qwen/Qwen3")]
    assert len(warned) == 1, said
    assert not any(m.startswith("endpoint 'east': no openai price") for m in said)


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    with preforked(tmp_path_factory.mktemp("preforked")) as server:
        yield server


def test_a_cap_with_an_endpoint_whose_model_has_no_price_is_refused_naming_the_endpoint(
    commands: Preforked, tmp_path: Path
) -> None:
    source = write_tickets(tmp_path / "tickets.csv", 3)
    endpoints = tmp_path / "endpoints.toml"
    endpoints.write_text(
        '[[endpoints]]\nname = "east"\nbackend = "emulator"\nbase_url = "http://127.0.0.1:9/v1"\n\n'
        '[[endpoints]]\nname = "vllm"\nbackend = "emulator"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'model = "Qwen/Qwen3-8B"\n'
    )
    line = refused_line(
        commands, tmp_path, source, "--template", TEMPLATE, "--id-column", "ticket_id",
        "--endpoints", str(endpoints), "--model", "gpt-4.1-mini", "--max-cost", "1",
    )  # fmt: skip
    assert line.startswith(
        "error: --max-cost: endpoint 'vllm': no openai price known for model 'Qwen/Qwen3-8B', so spending "
        "cannot be capped; add one in a price file, e.g. "
    ), line
