"""The official SDK's Structured Outputs examples (tests/emulator/sdk_examples, verbatim) run unchanged
against the emulator: `responses.parse` and `chat.completions.parse` with a Pydantic model, their
streaming forms, and strict function tools parsed into models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rowrelay.tasks.emulator import RunningEmulator

EXAMPLES = sorted((Path(__file__).parent / "sdk_examples").glob("*.py"))


def test_every_structured_output_example_is_here() -> None:
    assert [path.stem for path in EXAMPLES] == [
        "parsing",
        "parsing_stream",
        "parsing_tools",
        "parsing_tools_stream",
        "responses_structured_outputs",
        "responses_structured_outputs_tools",
    ]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_the_sdk_example_runs_against_the_emulator(example: Path, emulator: RunningEmulator) -> None:
    env = {**os.environ, "OPENAI_BASE_URL": emulator.url, "OPENAI_API_KEY": "sk-local", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    if example.stem == "parsing_tools_stream":
        assert "tool_calls.function.arguments.done" in done.stdout, "the streamed call was parsed"
