"""A gateway that cuts (or ends) streams before their first event, so a streamed create's id never comes
(`run.cut_streams`), in front of the real emulator, through both transports.

A trial's gateway cut every stream at 600 bytes, before `response.created`: poll mode streamed each create
(`poll_streams`), lost its id, counted it on its row and sent it again, streamed, to be cut again. 20 rows
paid 14 jobs for no answer and stopped after two minutes saying the server had answered no request;
plain creates, through the same gateway, finished every row. Now a run sends plain creates once `CUTS`
streams were cut (stream mode polls its rows from then on too). Every job the emulator started is
counted on its row: its jobs per row equal the row's attempts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from rowrelay.flows.request import BatchRequest
from rowrelay.flows.run_record import record_run
from rowrelay.flows.targets import resolve_targets
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import DamagedFileError, OutageError
from rowrelay.tasks.run.alike import ALIKE
from rowrelay.tasks.run.cut_streams import CUTS, WINDOW, CutStreams
from rowrelay.tasks.run.outage import Silence, watch_for_outage
from rowrelay.tasks.state import RunRecord, load, read_run_record, write_run_record
from rowrelay.tasks.state.files import RUN_FILE
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.relay import Cut, Relay, relaying
from tests.support.runs import Address, new_table, prompts, run_table, settings_for
from tests.support.tickets import TEMPLATE, write_tickets
from tests.support.virtual_time import run_in_virtual_time

CUT_BEFORE_ID = "cut before the response's id came"


def _paid_as_counted(relay: Relay, tmp_path: Path) -> None:
    """Each row's attempts are the jobs the emulator started for it, and each job past the first is an
    orphan the row counted."""
    started, unanswered = jobs_of(relay.emulator_url)
    frame = load(tmp_path / "batch")
    attempts = frame.set_index("row_key")["attempts"]
    assert started == Counter({key: n for key, n in attempts.items() if n})
    assert_every_job_is_paid_for(frame, started, unanswered)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and CUT_BEFORE_ID in r.getMessage()
    ]


@pytest.mark.parametrize("transport", ["lean", "sdk"])
@pytest.mark.parametrize("end", [False, True], ids=["dropped", "ended"])
async def test_poll_mode_sends_plain_creates_once_streams_are_cut_before_their_id(
    emulator: RunningEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, transport: str, end: bool
) -> None:
    """One row in flight, so the creates go one after another: exactly `CUTS` streamed, each cut (its
    connection dropped, or its body ended) before `response.created`, then every create plain. On the old
    code every create was streamed and cut, and the run stopped at `--give-up-after`."""
    rows = 6
    caplog.set_level(logging.WARNING)
    async with relaying(emulator.url, cut_before_named=Cut(end=end)) as relay:
        settings = settings_for(Address(relay.url), transport=transport, max_in_flight=1, give_up_after=10.0)
        report = await run_table(new_table(tmp_path / "batch", rows), settings, prompts(rows))
    assert report.counts == {"completed": rows}
    assert relay.streamed == [True] * CUTS + [False] * rows, "plain creates after the second cut"
    assert relay.cuts == CUTS
    _paid_as_counted(relay, tmp_path)
    frame = load(tmp_path / "batch")
    assert frame["orphans"].sum() == CUTS
    (warned,) = _warnings(caplog)
    assert f"streamed creates were cut before the response's id came, {CUTS} of the latest {CUTS}" in warned
    assert "the server took each, 200" in warned
    assert "This run sends plain creates and polls its rows from here on; ROWRELAY_POLL_STREAMS=0" in warned


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_poll_mode_with_every_second_stream_cut_stops_streaming_and_completes(
    emulator: RunningEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    """Every row at once; every second stream cut. A gateway that cuts only some streams never cuts
    `CUTS` in a row as the answers come back, but it cuts `CUTS` of the latest `WINDOW`: no create leaves
    streamed after the first plain one, and the run completes."""
    rows = 20
    caplog.set_level(logging.WARNING)
    async with relaying(emulator.url, cut_before_named=Cut(every=2)) as relay:
        settings = settings_for(Address(relay.url), transport=transport, give_up_after=10.0)
        report = await run_table(new_table(tmp_path / "batch", rows), settings, prompts(rows))
    assert report.counts == {"completed": rows}
    first_plain = relay.streamed.index(False)
    assert not any(relay.streamed[first_plain:]), "no create streamed once plain creates began"
    assert relay.cuts >= CUTS
    _paid_as_counted(relay, tmp_path)
    assert len(_warnings(caplog)) == 1


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_stream_mode_creates_plain_and_polls_once_streams_are_cut_before_their_id(
    emulator: RunningEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    """Stream mode's every wait is a stream the gateway would cut too: from the `CUTS`th cut its creates
    go plain and its rows are polled, within the run's first creates (`ALIKE` at a time until one is
    answered). On the old code every create was streamed and cut until `--give-up-after`."""
    rows = 6
    caplog.set_level(logging.WARNING)
    async with relaying(emulator.url, cut_before_named=Cut()) as relay:
        settings = settings_for(Address(relay.url), transport=transport, mode="stream", give_up_after=10.0)
        report = await run_table(new_table(tmp_path / "batch", rows), settings, prompts(rows))
    assert report.counts == {"completed": rows}
    first_plain = relay.streamed.index(False)
    assert not any(relay.streamed[first_plain:]), "no create streamed once plain creates began"
    assert CUTS <= relay.cuts <= ALIKE
    assert report.counters.polls > 0, "its rows polled"
    _paid_as_counted(relay, tmp_path)
    frame = load(tmp_path / "batch")
    assert frame["orphans"].sum() == relay.cuts, "every cut create counted on its row"
    (warned,) = _warnings(caplog)
    assert "polls every row, stream mode's waits being streams too, from here on" in warned
    assert "--mode poll with ROWRELAY_POLL_STREAMS=0 does so from the start" in warned


EARLIER_RUN = "an earlier run of this batch had its streamed creates cut before the response's id came"


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_later_run_of_a_batch_whose_streams_were_cut_sends_plain_creates_from_the_start(
    emulator: RunningEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    """The batch remembers the fall back (`run.json`'s `streams_cut`): the same command again, behind the
    same gateway, streams no create and says why once. On the old code the second run streamed again and
    paid `CUTS` more jobs before it fell back. The first cut is said once, in the cut streams' words, not
    in the lost-answer hold's too."""
    directory = tmp_path / "batch"
    rows = 6
    new_table(directory, rows).close()
    # As the flow records its run before its first create (flows/run_record.py).
    record = RunRecord(output=str(tmp_path / "out.csv"), backend="emulator", model="gpt-4.1-mini", mode=mode)
    write_run_record(directory, record)
    caplog.set_level(logging.WARNING)
    settings_of = {"max_in_flight": 1, "mode": mode, "give_up_after": 10.0}
    async with relaying(emulator.url, cut_before_named=Cut()) as relay:
        settings = settings_for(Address(relay.url), **settings_of)
        report = await run_table(new_table(directory, rows), settings, prompts(rows))
    assert report.counts == {"completed": rows}
    assert relay.streamed[:CUTS] == [True] * CUTS
    assert not any(relay.streamed[CUTS:])
    first = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(first) == 1, f"the first cut said once, by its cause: {first}"
    assert CUT_BEFORE_ID in first[0]
    noted = read_run_record(directory)
    assert noted is not None
    assert noted.streams_cut == [None]

    caplog.clear()
    more = 2 * rows  # the batch's input grew: the second run sends the new rows
    async with relaying(emulator.url, cut_before_named=Cut()) as relay:
        settings = settings_for(Address(relay.url), **settings_of)
        report = await run_table(new_table(directory, more), settings, prompts(more))
    assert report.counts == {"completed": more}
    assert relay.streamed == [False] * rows, "no create streamed: plain from the start"
    assert relay.cuts == 0
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1, said
    assert EARLIER_RUN in said[0]
    assert "sends plain creates and polls" in said[0]
    _paid_as_counted(relay, tmp_path)
    assert load(directory)["orphans"].sum() == CUTS, "the first run's cuts alone"


def test_the_batchs_later_runs_keep_the_cut_streams_on_record(tmp_path: Path) -> None:
    """Each run records itself afresh (`flows.run_record`) before its first create: it keeps the batch's
    `streams_cut`, or its next run would stream again. A record of an older release has none."""
    state = tmp_path / "state"
    request = BatchRequest.build(
        write_tickets(tmp_path / "tickets.csv", 2), template=TEMPLATE, id_column="ticket_id", state=state,
        output=tmp_path / "out.csv", backend="emulator", model="gpt-4.1-mini", base_url="http://127.0.0.1:9/v1",
    )  # fmt: skip
    settings, url, targets = resolve_targets(request)

    def recorded() -> RunRecord:
        record_run(state, request, request.output_path(state), settings, url, targets, reading=1)
        record = read_run_record(state)
        assert record is not None
        return record

    state.mkdir()
    assert recorded().streams_cut is None
    write_run_record(state, dataclasses.replace(recorded(), streams_cut=[None, "west"]))
    assert recorded().streams_cut == [None, "west"]
    assert recorded().streams_cut == [None, "west"], "and the run after it"
    (state / RUN_FILE).write_text(json.dumps({**dataclasses.asdict(recorded()), "streams_cut": "west"}))
    with pytest.raises(DamagedFileError, match="streams_cut is 'west'"):
        read_run_record(state)


def test_cuts_among_the_latest_streams_not_in_a_row() -> None:
    every_second = CutStreams()
    said = []
    for _ in range(CUTS):
        every_second.named()
        said.append(every_second.cut())
    assert said == [False] * (CUTS - 1) + [True], "cut every second stream: never in a row, yet found"
    rare = CutStreams()
    assert rare.cut() is False
    for _ in range(WINDOW):
        rare.named()
    assert rare.cut() is False, "one cut in more than the window is a flaky link"


def _outage(silence: Silence, script: list[tuple[float, str]]) -> str:
    """The watch on a virtual clock, `give_up_after` 10 s, while `script` moves `silence` (at those
    seconds: `cut` a streamed create cut before its id, `fail` a refused connection, `answer`): its
    words when it gives up."""

    async def main() -> str:
        loop = asyncio.get_running_loop()
        started = loop.time()
        watch = asyncio.ensure_future(watch_for_outage(silence, 10.0))
        for at, what in script:
            await asyncio.sleep(started + at - loop.time())
            if what == "answer":
                silence.answers += 1
                continue
            silence.streams_cut += what == "cut"
            silence.failed("connection problem" if what == "cut" else ConnectionRefusedError("refused"))
        with pytest.raises(OutageError) as raised:
            await asyncio.wait_for(watch, 100.0)
        return str(raised.value)

    return run_in_virtual_time(main)


def test_an_outage_of_streams_cut_before_their_id_says_so_not_that_nothing_answered() -> None:
    said = _outage(Silence(), [(0.5, "cut"), (1.5, "cut"), (3.0, "cut")])
    assert "answered no request" not in said
    assert "no request was answered but 3 streamed creates, which the server took (200)" in said
    assert "ROWRELAY_POLL_STREAMS=0" in said
    # Cuts before an answer are not this outage's: a server that went quiet since says so.
    said = _outage(Silence(), [(0.5, "cut"), (2.0, "answer"), (3.5, "fail")])
    assert said.startswith("the server has answered no request for 10 s (last: refused)")
