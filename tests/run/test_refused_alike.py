"""A server that refuses every create alike without naming why (older vLLM refusing `background` with no
`param`): each row failed `rejected` in turn and the run ended exit 1, where the same refusal naming
`background` stopped it at once. The run now stops once its first rows are all refused alike and none is
taken, and only then (`run.refused_alike`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx2
import openai
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.emulator.config import BackgroundRefusal
from rowrelay.tasks.llm import BackendRefusedError, RequestRejectedError
from rowrelay.tasks.llm.sdk_errors import translate
from rowrelay.tasks.run import open_session
from rowrelay.tasks.run.refused_alike import ALIKE, RefusedAlike
from rowrelay.tasks.state import load
from tests.support.duplicates import jobs_of
from tests.support.runs import new_table, prompts, run_batch, settings_for

ROWS = 12
VLLM = "This vLLM engine does not support `store=True` and therefore does not support the background mode."


@pytest.mark.parametrize(
    ("refusal", "mode", "says"),
    [
        ("unnamed", "poll", "every create is refused alike, naming no parameter: the run's first 5 were"),
        ("unnamed", "stream", "every create is refused alike, naming no parameter: the run's first 5 were"),
        ("param", "poll", "every create is refused for its background (400)"),  # as it was
    ],
)
async def test_a_server_refusing_every_create_alike_stops_the_run_with_nothing_spent(
    tmp_path: Path, refusal: BackgroundRefusal, mode: str, says: str
) -> None:
    with running_emulator(EmulatorConfig(background_refusal=refusal)) as emu:
        with pytest.raises(BackendRefusedError) as stopped:
            await run_batch(emu, tmp_path / "batch", ROWS, mode=mode)
        started, _ = jobs_of(emu.url)
    assert says in str(stopped.value)
    assert VLLM in str(stopped.value)  # the server's words
    frame = load(tmp_path / "batch")
    assert set(frame["status"]) == {"pending"}  # sent again, as they are, once the server takes them
    assert frame["error_type"].isna().all()
    assert (frame["attempts"] == 0).all()
    assert sum(started.values()) == 0


async def test_rows_each_refused_for_their_own_input_fail_alone_and_the_run_goes_on(tmp_path: Path) -> None:
    """The first rows all too long for the model (400, param `input`, code `context_length_exceeded`):
    the same words for each, but their own, so they fail and the rest complete."""
    long_rows = ALIKE + 2
    asked = prompts(ROWS) | {f"row-{i:04d}": "too long " * 60_000 for i in range(long_rows)}
    with running_emulator(EmulatorConfig()) as emu:
        table = new_table(tmp_path / "batch", ROWS)
        session = open_session(settings_for(emu, model="gpt-4o-mini", max_in_flight=1), table, asked)
        try:
            report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
    assert report.counts == {"failed": long_rows, "completed": ROWS - long_rows}
    frame = load(tmp_path / "batch")
    assert set(frame[frame["status"] == "failed"]["error_type"]) == {"rejected"}


def _refused(message: str, param: str | None = None, code: str | None = None) -> RequestRejectedError:
    """A create's refusal as the backend raises it: translated from the SDK's own 400."""
    request = httpx2.Request("POST", "http://127.0.0.1/v1/responses")
    body = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    sdk = openai.BadRequestError(message, response=httpx2.Response(400, request=request), body=body)
    try:
        raise translate(sdk, creating=True) from sdk
    except RequestRejectedError as refused:
        return refused


def test_only_the_first_rows_refused_alike_with_none_taken_stop_the_run() -> None:
    alike = RefusedAlike()
    rows = [f"row-{i}" for i in range(ALIKE)]
    assert [alike.refused(key, _refused(VLLM)) for key in rows[:-1]] == [[]] * (ALIKE - 1)
    assert alike.refused(rows[0], _refused(VLLM)) == []  # a row refused twice is one row
    assert alike.refused(rows[-1], _refused(VLLM)) == rows  # the run stops: all back to pending
    assert alike.refused("row-late", _refused(VLLM)) == ["row-late"]  # in flight as it stopped: back too

    spoilers: list[Callable[[RefusedAlike], object]] = [
        lambda hold: hold.taken(),  # a create taken: the server takes creates
        lambda hold: hold.refused("row-x", _refused("another fault of that row's own")),
        lambda hold: hold.refused("row-x", _refused(VLLM, param="input")),  # names the row's input
        lambda hold: hold.refused("row-x", _refused(VLLM, code="context_length_exceeded")),
    ]
    for spoiler in spoilers:
        hold = RefusedAlike()
        hold.refused("row-a", _refused(VLLM))
        spoiler(hold)
        assert [hold.refused(key, _refused(VLLM)) for key in rows] == [[]] * ALIKE
