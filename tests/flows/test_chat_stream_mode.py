"""`--backend chat --mode stream` is refused before anything starts: Chat Completions has no background
mode, so there is no response to stream, and the mode was taken silently and did nothing (each answer
came whole with its create, as in poll mode). Exit 2, one line, named as it was given; in a real process
where nothing can start: tests/flows/test_usage_errors.py, which runs the refusal itself; here, what
is taken."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.errors import UsageError
from tests.support.tickets import TEMPLATE


def test_poll_mode_and_stream_mode_elsewhere_are_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused")
    source = tmp_path / "in.csv"
    source.write_text("ticket_id,subject,body\n1,a,b\n")
    for backend, mode in (("chat", "poll"), ("openai", "stream")):
        request = BatchRequest.build(
            str(source), template=TEMPLATE, id_column="ticket_id", backend=backend, mode=mode
        )
        assert (request.settings.backend, request.settings.mode) == (backend, mode)
    with pytest.raises(UsageError, match=r"^--mode: Chat Completions has no stream mode"):
        BatchRequest.build(
            str(source), template=TEMPLATE, id_column="ticket_id", backend="chat", mode="stream"
        )
