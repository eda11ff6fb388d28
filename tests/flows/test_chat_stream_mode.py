"""`--backend chat --mode stream` is refused before anything starts: Chat Completions has no background
mode, so there is no response to stream, and the mode was taken silently and did nothing (each answer
came whole with its create, as in poll mode). Exit 2, one line, named as it was given; in a real process
where nothing can start (tests/flows/test_usage_errors.py says how)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.errors import UsageError
from tests.flows.test_usage_errors import Case
from tests.support.local_prefect import stopped_afterwards
from tests.support.preforked import Preforked, preforked
from tests.support.tickets import TEMPLATE

CHAT = ("--backend", "chat", "--base-url", "http://127.0.0.1:9/v1")
KEY = {"OPENAI_API_KEY": "sk-unused"}
WHY = (
    "Chat Completions has no stream mode: it has no background mode, and each row's answer comes whole "
    "with its create; leave the mode out, or stream with --backend openai or azure"
)


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    with preforked(tmp_path_factory.mktemp("preforked")) as server:
        yield server


@pytest.fixture
def case(tmp_path: Path, commands: Preforked) -> Iterator[Case]:
    made = Case(tmp_path, commands)
    with stopped_afterwards(made.home):
        yield made


def test_stream_mode_on_chat_completions_is_refused_as_it_was_given(case: Case) -> None:
    assert case.refuse(*CHAT, "--mode", "stream", env=KEY) == f"error: --mode: {WHY}"
    assert case.refuse(*CHAT, env={**KEY, "ROWRELAY_MODE": "stream"}) == f"error: ROWRELAY_MODE: {WHY}"
    assert not case.state.exists()


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
