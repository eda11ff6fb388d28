"""A key a response quotes in its own words about its end is masked before rowrelay keeps or says them.

A user trial's server ended a response `status: failed` with an `error.message` quoting the request's
`Authorization` header (`Bearer sk-proj-...`): the key went into the state table's `error_message`,
hence the output's `error` column, and Prefect's logs. An error answer's words were masked
(`sdk_errors.translate`); a response object's were not. Here a proxy in front of the emulator ends rows'
responses failed or incomplete in words quoting the key it got (message, code, incomplete reason), on
both transports and in both wait modes: the words are kept, the key masked, and no file or log record
holds it. Each row's jobs on the server are its attempts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from rowrelay.tasks.llm.masking import MASK
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.key_echo import FRAGMENT, SECRET
from tests.support.leaks import every_log_record, files_holding
from tests.support.rewriting_proxy import rewriting
from tests.support.runs import Address, new_table, prompts, run_table, settings_for

ROWS = 4


def _ended_quoting_the_key(response: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    """row-0000 failed, its message quoting the key; row-0001 failed, its code quoting it; row-0002
    incomplete, its reason quoting it; row-0003 as the emulator answered."""
    row = (response.get("metadata") or {}).get("rowrelay_row")
    if response.get("status") != "completed" or row == "row-0003":
        return response
    key = headers.get("Authorization", "")
    if row == "row-0002":
        return {**response, "status": "incomplete", "incomplete_details": {"reason": f"cut for {key}"}}
    error = {"code": "server_error", "message": f"The model crashed for {key}"}
    if row == "row-0001":
        error = {"code": f"refused_{key}", "message": "refused"}
    return {**response, "status": "failed", "output": [], "error": error}


@pytest.mark.parametrize(
    ("backend", "mode", "transport"),
    [
        ("openai", "poll", "lean"),
        ("openai", "poll", "sdk"),
        ("openai", "stream", "lean"),
        ("agent", "poll", "sdk"),
        ("agent", "stream", "sdk"),
    ],
)
async def test_a_key_quoted_by_a_response_is_masked(
    backend: str, mode: str, transport: str, tmp_path: Path
) -> None:
    with running_emulator(EmulatorConfig()) as emu:
        async with rewriting(emu.url, _ended_quoting_the_key) as url:
            settings = settings_for(
                Address(url), backend=backend, api_key=SECRET, mode=mode, transport=transport, max_attempts=1
            )
            with every_log_record() as logged:
                report = await run_table(new_table(tmp_path / "state", ROWS), settings, prompts(ROWS))
        started, unanswered = jobs_of(emu.url)
    frame = load(tmp_path / "state").set_index("row_key")
    assert report.counts == {"failed": 2, "incomplete": 1, "completed": 1}, frame[["status", "error_message"]]
    assert started == Counter(dict.fromkeys(frame.index, 1)) == Counter(frame["attempts"].to_dict())
    assert_every_job_is_paid_for(frame.reset_index(), started, unanswered)
    # The server's words are kept, the key masked in them.
    assert frame.loc["row-0000", "error_message"] == f"The model crashed for Bearer {MASK}"
    assert frame.loc["row-0001", "error_code"] == f"refused_Bearer {MASK}"
    assert frame.loc["row-0002", "error_message"] == f"incomplete: cut for Bearer {MASK}"
    assert files_holding(tmp_path, FRAGMENT) == []
    assert [line for line in logged if FRAGMENT in line] == []
