"""A run stopped by an error about the run (here, a wrong address's first answer) while another create is
on the wire: that create may have started a job, and the README says creates still on the wire at a stop
are counted on their rows as maybe sent. A trial's chat run left such a row (its create answered, after
the stop, with JSON cut short) `submitting` with no attempt and no possible duplicate: the SDK's decoder
raised on the body, an error `Submitter._stopping` recorded nothing for, so the row was counted only when
the next run opened the table. Now that body is a success not the API's, like any other (`answers.parsed`),
and any other error on a stopping create counts it too."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm import NotTheApiError
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import load
from tests.support.canned import Canned
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.inspection import eventually, reading
from tests.support.mangled_creates import SIGN_IN_PAGE, cut_in_half, mangling
from tests.support.runs import Address, new_table, prompts, running, settings_for

ROWS = 8
LATE = 1
"""The create whose answer comes after the stop: its body cut in half."""


@pytest.mark.parametrize(
    ("backend", "transport"), [("chat", "lean"), ("emulator", "sdk"), ("emulator", "lean")]
)
async def test_a_create_answered_after_a_stop_is_counted_on_its_row(
    tmp_path: Path, backend: str, transport: str
) -> None:
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))
    with running_emulator(config) as emu:

        def mangle(number: int, body: bytes) -> Canned:
            return cut_in_half(body) if number == LATE else SIGN_IN_PAGE

        async with mangling(emu.url, mangle, held=frozenset({LATE})) as proxy:
            table = new_table(tmp_path / "batch", ROWS)
            settings = settings_for(
                Address(proxy.url), backend=backend, transport=transport, mode="poll", poll_streams=0,
                max_in_flight=4, api_key="sk-test",
            )  # fmt: skip
            session = open_session(settings, table, prompts(ROWS))
            async with running(session, table, NotTheApiError) as run:
                # The first sign-in page stops the run (nothing answered properly yet): its row counted.
                await eventually(reading(lambda: table.counts()["orphaned"]), lambda orphaned: orphaned > 0)
                proxy.let_go.set()
                with pytest.raises(NotTheApiError):
                    await run
            started, unanswered = jobs_of(proxy.emulator_url)
    frame = load(tmp_path / "batch")
    assert "submitting" not in set(frame["status"]), frame[["row_key", "status", "attempts", "orphans"]]
    assert proxy.creates == int(frame["attempts"].sum()) == sum(started.values())
    assert_every_job_is_paid_for(frame, started, unanswered)
