"""A run that starts the embedded emulator says that its answers are made up and how to stop it. A first
run's line read `started the embedded emulator at URL (no API key or base URL configured)`: a newcomer
learnt neither that the answers were not a model's nor that the process stays running until `rowrelay
services stop emulator` (the Prefect server's line beside it says its own)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rowrelay.flows.backends import resolve_backend
from rowrelay.tasks.settings import Settings
from tests.support.local_prefect import stopped_afterwards


@pytest.mark.timeout(60)
def test_the_start_says_made_up_answers_and_the_stop_command_and_a_reuse_stays_quiet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    for variable in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ROWRELAY_API_KEY",
        "ROWRELAY_BASE_URL",
        "ROWRELAY_BACKEND",
    ):
        monkeypatch.delenv(variable, raising=False)  # what would make the run another server's
    caplog.set_level(logging.INFO, logger="rowrelay.backend")
    with stopped_afterwards(home):
        _, url = resolve_backend(Settings(home=home))  # no key, no base URL: the embedded emulator
        _, again = resolve_backend(Settings(home=home))
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "rowrelay.backend"]
    assert again == url
    assert said == [
        (
            logging.WARNING,
            f"started the embedded emulator at {url} for this and later runs (no API key or base URL "
            "configured): its answers are made-up words, not a model's; `rowrelay services stop emulator` "
            "stops it",
        ),
        (logging.INFO, f"reusing the embedded emulator at {url} (no API key or base URL configured)"),
    ]
