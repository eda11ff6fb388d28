"""Secrets never reach the state table, run records, outputs, artifacts or logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from tests.support.tickets import TEMPLATE, write_tickets

SECRET = "sk-rowrelay-test-SECRET-0123456789"


def files_containing(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


async def test_the_api_key_is_never_written_anywhere(
    prefect_api: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client

    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # read the way users set it: the SDK's own variable
    source = write_tickets(tmp_path / "tickets.csv", 5)
    with running_emulator(EmulatorConfig(api_key=SECRET)) as emu:
        result = await run_batch(
            str(source), template=TEMPLATE, id_column="ticket_id", state=str(tmp_path / "state"),
            output=str(tmp_path / "out.jsonl"), backend="emulator", base_url=emu.url,
        )  # fmt: skip
    assert result.counts["completed"] == 5  # the key was used: the emulator refuses any other
    assert files_containing(tmp_path, SECRET) == []
    assert SECRET not in caplog.text
    async with get_client() as client:
        artifacts = await client.read_artifacts()
        runs = await client.read_flow_runs()
    assert all(SECRET not in str(a.data) for a in artifacts)
    assert all(SECRET not in str(run.parameters) for run in runs)
