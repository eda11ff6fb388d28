"""Ctrl-C of a `--backend chat` run waits for the answers on the wire instead of cutting them.

A chat create is its whole answer, which the server writes (and a paid gateway bills) whether or not the
connection is still there. The first Ctrl-C gave such creates 5 s to answer and cut the rest: with answers
of 30 s every row in flight was counted an orphan and sent again by the next run, each paid twice. Now the
first Ctrl-C sends no new row, says at once that it waits for the answers being written, and keeps them as
they come; the second cuts them as the first did (flows/run_loop.py, tasks/run/answers_awaited.py)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections import Counter
from pathlib import Path

import httpx
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.state import load
from tests.support.cli import (
    IN_PROCESS,
    ROOT,
    env_for,
    exit_code,
    holds_tokens,
    run_args,
    sigint_as_from_a_terminal,
    wait_until,
)
from tests.support.tickets import write_tickets

IN_FLIGHT = 4
WAITING = "interrupted: waiting for the answers of 4 rows being written (no new row is sent)"


def _chat_jobs(emu: RunningEmulator) -> tuple[Counter[str], Counter[str]]:
    """Chat jobs the emulator started per row, and those whose answer reached no client (as
    `duplicates.jobs_of` counts them): told by their prompt, a chat completion having no metadata."""
    listing = httpx.get(emu.url.removesuffix("/v1") + "/emulator/jobs", timeout=30).json()["data"]
    started, unanswered = Counter[str](), Counter[str]()
    for job in listing:
        assert job["kind"] == "chat.completion", job["kind"]
        found = re.search(r"Subject: Problem number (\d+)\n", job["prompt"])
        assert found is not None, job["prompt"]
        key = f"T-{int(found[1]):05d}"
        started[key] += 1
        unanswered[key] += not job["answered"]
    return started, +unanswered


def _started(
    tmp_path: Path, emu: RunningEmulator, prefect_env: dict[str, str], rows: int
) -> subprocess.Popen[bytes]:
    """`rowrelay run --backend chat` of `rows` tickets, `IN_FLIGHT` at a time, as a terminal starts it,
    returned once the emulator has a chat create of each of the first `IN_FLIGHT` rows on the wire."""
    source = write_tickets(tmp_path / "tickets.csv", rows)
    args = [*run_args(source, tmp_path), "--backend", "chat", "--max-in-flight", str(IN_FLIGHT)]
    env = env_for(prefect_env, emu, OPENAI_API_KEY="sk-emulated")  # the emulator checks none
    with (tmp_path / "run.log").open("wb") as log:
        run = subprocess.Popen(
            [*IN_PROCESS, *args], cwd=ROOT, env=env, stdout=log, stderr=log,
            preexec_fn=sigint_as_from_a_terminal,
        )  # fmt: skip
    wait_until(lambda: sum(_chat_jobs(emu)[0].values()) >= IN_FLIGHT, run, tmp_path / "run.log", within=120)
    return run


def _said_once(run: subprocess.Popen[bytes], log: Path, words: str) -> None:
    wait_until(lambda: words in log.read_text(), run, log, within=60)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_first_ctrl_c_of_a_chat_run_waits_for_the_answers_on_the_wire_and_keeps_them(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    # Answers of 12 s: on the wire well past the 5 s a stop gave them, which cut them all.
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:12"))) as emu:
        run = _started(tmp_path, emu, prefect_env, rows=3 * IN_FLIGHT)
        log = tmp_path / "run.log"
        run.send_signal(signal.SIGINT)
        _said_once(run, log, WAITING)  # at once, not once the answers are in
        assert exit_code(run, log, within=120) == 130, log.read_text()[-3000:]
        said = log.read_text()
        for torn in ("Traceback", "ERROR"):
            assert torn not in said, said[-5000:]
        assert "all 4 answers came in and are kept" in said, said[-3000:]
        last = said.strip().splitlines()[-1]
        assert last.startswith(
            "interrupted: the answers of 4 rows being written as the run stopped were waited for and kept"
        ), last
        jobs, unanswered = _chat_jobs(emu)
    frame = load(tmp_path / "state")
    assert Counter(frame["status"])["completed"] == IN_FLIGHT, Counter(frame["status"])
    assert (frame["orphans"] == 0).all()
    attempts = {key: n for key, n in zip(frame["row_key"], frame["attempts"], strict=True) if n}
    assert dict(jobs) == attempts, "each row's jobs on the server are its attempts: no new row was sent"
    assert not unanswered


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_second_ctrl_c_cuts_the_chat_answers_being_waited_for(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as emu:
        run = _started(tmp_path, emu, prefect_env, rows=IN_FLIGHT)
        log = tmp_path / "run.log"
        run.send_signal(signal.SIGINT)
        _said_once(run, log, WAITING)
        run.send_signal(signal.SIGINT)
        assert exit_code(run, log, within=120) == 130, log.read_text()[-3000:]
        last = log.read_text().strip().splitlines()[-1]
        assert last.startswith(
            "interrupted: 4 rows were being sent as the run stopped, with no answer yet"
        ), last
        jobs, unanswered = _chat_jobs(emu)
    frame = load(tmp_path / "state")
    assert Counter(frame["status"]) == {"orphaned": IN_FLIGHT}  # each counted on its row, as before
    assert (frame["orphans"] == 1).all()
    # the server's jobs per row are the row's attempts, each cut one unanswered and counted on its row
    assert dict(jobs) == dict(zip(frame["row_key"], frame["attempts"], strict=True))
    assert dict(unanswered) == dict(zip(frame["row_key"], frame["orphans"], strict=True))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_over_a_chat_and_a_responses_endpoint_stops_each_its_way(
    prefect_env: dict[str, str], tmp_path: Path
) -> None:
    """The Responses endpoint's responses are cancelled at the first Ctrl-C, while the chat endpoint's
    answers are waited for: a session, and a runner, per endpoint."""
    source = write_tickets(tmp_path / "tickets.csv", 4 * 2)
    slow, chat_slow = LatencySpec.parse("fixed:120"), LatencySpec.parse("fixed:20")
    with (
        running_emulator(EmulatorConfig(latency=slow)) as responses,
        running_emulator(EmulatorConfig(latency=chat_slow)) as chat,
    ):
        endpoints = [
            {"name": "responses", "backend": "emulator", "base_url": responses.url, "max_in_flight": 2},
            {
                "name": "completions", "backend": "chat", "base_url": chat.url,
                "api_key_env": "OPENAI_API_KEY", "max_in_flight": 2,
            },
        ]  # fmt: skip
        (tmp_path / "endpoints.json").write_text(json.dumps(endpoints))
        args = [*run_args(source, tmp_path), "--endpoints", str(tmp_path / "endpoints.json")]
        env = env_for(prefect_env, responses, OPENAI_API_KEY="sk-emulated")
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            run = subprocess.Popen(
                [*IN_PROCESS, *args], cwd=ROOT, env=env, stdout=out, stderr=out,
                preexec_fn=sigint_as_from_a_terminal,
            )  # fmt: skip

        def both_in_flight() -> bool:
            return holds_tokens(tmp_path / "state", 2) and sum(_chat_jobs(chat)[0].values()) == 2

        wait_until(both_in_flight, run, log, within=120)
        run.send_signal(signal.SIGINT)
        _said_once(run, log, "interrupted: waiting for the answers of 2 rows being written")
        assert exit_code(run, log, within=120) == 130, log.read_text()[-3000:]
        said = log.read_text()
        # The responses were cancelled at once, not once the chat answers had come in.
        cancelled_at = said.find("2 in-flight responses were cancelled")
        assert 0 <= cancelled_at < said.find("all 2 answers came in and are kept"), said[-3000:]
        last = said.strip().splitlines()[-1]
        assert last.startswith("interrupted: 2 in-flight responses were cancelled"), last
        assert "the answers of 2 rows being written as the run stopped were waited for and kept" in last, last
        assert Counter(r["status"] for r in responses.emulator.listing()) == {"cancelled": 2}
        jobs, unanswered = _chat_jobs(chat)
    frame = load(tmp_path / "state")
    by_endpoint = frame[frame["attempts"] > 0].groupby("endpoint")["status"].agg(Counter).to_dict()
    assert by_endpoint == {"completions": {"completed": 2}, "responses": {"cancelled": 2}}, by_endpoint
    chat_rows = frame[frame["endpoint"] == "completions"]
    assert dict(jobs) == dict(zip(chat_rows["row_key"], chat_rows["attempts"], strict=True))
    assert not unanswered
