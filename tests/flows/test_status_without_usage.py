"""`rowrelay status` of a batch a server answered without token usage (vLLM, Ollama and many gateways
leave it out): its rows' token counts are not known, and status said `tokens in 0 out 0 (reasoning 0)` of
a 2,000-row batch it had answered, in a user trial, and of its cost `no row has a price (its model had
none; `run --prices FILE` adds one)` of a batch run with a price file. It says the counts are not
known, and so the cost."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from tests.support.rewriting_proxy import rewriting
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

ROWS = 4


def _no_usage(response: dict[str, Any], _: Mapping[str, str]) -> dict[str, Any]:
    return {**response, "usage": None}


async def test_status_says_tokens_are_not_known_when_the_server_gave_no_usage(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig()) as emu:
        async with rewriting(emu.url, _no_usage) as url:
            settings = settings_for(Address(url), poll_streams=0)
            await run_table(new_table(tmp_path / "none", ROWS), settings, prompts(ROWS))
        await run_table(new_table(tmp_path / "some", ROWS), settings_for(emu), prompts(ROWS))
    unknown = CliRunner().invoke(app, ["status", str(tmp_path / "none")])
    assert unknown.exit_code == 0, unknown.output
    assert f"rows {ROWS}  tokens not known (the server answered without token usage)  orphans 0" in (
        unknown.output
    ), unknown.output
    assert "tokens in 0" not in unknown.output
    # not 'its model had none; `run --prices FILE` adds one': the model had a price, the answers no counts
    assert "cost unknown: the server answered without token usage, so no row could be priced" in (
        unknown.output
    ), unknown.output
    known = CliRunner().invoke(app, ["status", str(tmp_path / "some")])
    assert known.exit_code == 0, known.output
    assert f"rows {ROWS}  tokens in " in known.output, known.output  # counts, as before
