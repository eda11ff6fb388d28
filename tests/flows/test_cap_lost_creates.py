"""`--max-cost` covers the batch's possible duplicates, earlier runs' too. A create whose answer a gateway
lost may have started a paid job; a run counted its own such creates against the cap but forgot them at
the next run, so the same command with the same cap (what a user tries first) went on and sent the rest,
and the stop's line named only what was paid ("spent $0.004831 of --max-cost $0.01" where the cap was
full) and counted rows sent again as "not sent"."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.llm.prices import cost_usd, load_prices
from rowrelay.tasks.records import rows, usd
from rowrelay.tasks.state import load
from tests.support.runs import creates_per_row, flow_args
from tests.support.tickets import write_tickets

GATEWAY = EmulatorConfig(
    latency=LatencySpec.parse("fixed:0.05"), output_tokens=(64, 64), gateway_error_rate=0.3, seed=3
)
"""A gateway losing three creates' answers in ten (their jobs run, and are billed); answers exactly the
run's output ceiling, so a row's estimate is what each of its jobs costs."""
CAP = 0.003
RATES = load_prices(None).rates("openai", "gpt-4.1-mini", "default")


async def _billed(emu: RunningEmulator) -> float:
    """What the server's every job cost, answered or not, from its own usage (through the SDK)."""
    assert RATES is not None
    total = 0.0
    async with AsyncOpenAI(base_url=emu.url, api_key="sk-test") as client:
        for job in emu.emulator.listing():
            response = await client.responses.retrieve(job["id"])
            assert response.status == "completed"
            assert response.usage is not None
            usage = response.usage
            total += cost_usd(RATES, input_tokens=usage.input_tokens, cached_tokens=0,
                              output_tokens=usage.output_tokens)  # fmt: skip
    return total


async def test_the_cap_counts_earlier_runs_lost_creates_and_the_stop_says_both_parts(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv("ROWRELAY_MAX_OUTPUT_TOKENS", "64")
    source = write_tickets(tmp_path / "tickets.csv", 60)
    with running_emulator(GATEWAY) as emu:
        args = flow_args(tmp_path, emu, max_in_flight=4)
        first = await run_batch(str(source), **args, max_cost=CAP)
        assert first.stopped is not None
        frame = load(tmp_path / "state")
        lost = int(frame["orphans"].sum())
        assert lost > 0, "the seeded gateway loses answers"
        never = int((frame["attempts"] == 0).sum())
        again = int(((frame["status"] == "orphaned") & (frame["attempts"] < 3)).sum())
        assert never > 0
        said = " ".join(first.stopped.split())
        spent = usd(float(frame["cost_usd"].sum()))
        assert said.startswith(f"cost cap reached: spent {spent}, and up to $")
        assert f"more in {lost} creates whose answers were lost (possible duplicates), of max_cost" in said
        # Rows whose answers were lost are sent again, not "not sent" (whether any are left depends on
        # which rows the run had sent again before the cap).
        left = f"; {rows(never)} not sent" + (f" and {rows(again)} to send again" if again else ";")
        assert left in said
        jobs = sum(creates_per_row(emu).values())

        resumed = await run_batch(str(source), **args, max_cost=CAP)  # the same command, the same cap
        assert resumed.stopped is not None
        assert sum(creates_per_row(emu).values()) == jobs, "nothing more sent: the cap was full"
        assert f"in {lost} creates whose answers were lost" in resumed.stopped
        assert await _billed(emu) <= CAP + 1e-9  # every job the server ran, duplicates included
