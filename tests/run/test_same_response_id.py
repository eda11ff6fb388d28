"""A server that names one response id for the creates of several rows (a buggy OpenAI-compatible one: a
trial's answered every create `resp_same`): every row waited on that one response and recorded its
answer, each paid, nothing said. Now the second row named by an id another row waits on stops the run
in one line, its create counted on it (a job may exist for it), before any row is given another's answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rowrelay.tasks.llm import NotTheApiError
from rowrelay.tasks.state import load
from tests.support.canned import Canned, canned_server
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

ROWS = 4


def _response(status: str) -> dict[str, Any]:
    return {
        "id": "resp_same", "object": "response", "created_at": 1_700_000_000, "status": status,
        "background": True, "model": "gpt-4.1-mini", "output": [], "usage": None,
    }  # fmt: skip


async def test_a_response_id_named_for_two_rows_stops_the_run_before_either_is_given_an_answer(
    tmp_path: Path,
) -> None:
    bodies: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> Canned:
        # a create (it has a model) is queued; a poll or cancel (no body) finds it still going
        return Canned(_response("queued" if "model" in body else "in_progress"))

    async with canned_server(answer, bodies) as url:
        settings = settings_for(Address(url), max_in_flight=2, poll_streams=0, max_attempts=3)
        with pytest.raises(NotTheApiError) as caught:
            await run_table(new_table(tmp_path / "batch", ROWS), settings, prompts(ROWS))
    creates = sum("model" in body for body in bodies)
    frame = load(tmp_path / "batch").set_index("row_key")
    assert str(caught.value) == (
        "the server answered the creates of rows row-0000 and row-0001 with the same response id "
        "('resp_same'): it does not keep responses apart, so one row would be given the other's answer"
    )
    assert creates == 2
    assert frame.loc["row-0000", "response_id"] == "resp_same"
    second = frame.loc["row-0001"]
    assert (second["status"], second["attempts"], second["orphans"]) == ("orphaned", 1, 1)
    assert pd.isna(second["response_id"])
    assert int(frame["attempts"].sum()) == creates, "every create the server got is counted on its row"
    assert set(frame.loc[["row-0002", "row-0003"], "status"]) == {"pending"}
