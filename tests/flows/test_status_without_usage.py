"""`rowrelay status` of a batch a server answered without token usage (vLLM, Ollama and many gateways
leave it out): its rows' token counts are not known, and status said `tokens in 0 out 0 (reasoning 0)` of
a 2,000-row batch it had answered, in a user trial. It says they are not known."""

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
    known = CliRunner().invoke(app, ["status", str(tmp_path / "some")])
    assert known.exit_code == 0, known.output
    assert f"rows {ROWS}  tokens in " in known.output, known.output  # counts, as before
