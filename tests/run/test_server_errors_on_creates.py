"""A 5xx to a create that names no job: which may have started one, and which turned it away.

A server that fails while handling a create may have made its job first, and says so in the API's own
envelope (`{"error": {"type": "server_error", ...}}`) all the same: the emulator's Chat Completions does,
for a job that ran and failed (no id comes back), as do proxies such as LiteLLM for an upstream's failure
after the create was passed on. Read as "nothing started", each such create was sent again, a paid job
no row counted (a trial: 7 jobs for one row in a minute). A 503 in the envelope (overloaded) turned the
create away: nothing is spent on it (tests/llm/test_translate.py has the whole table).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for
from tests.support.runs import prompts, run_batch


def _jobs_by_prompt(url: str, asked: dict[str, str]) -> tuple[Counter[str], Counter[str]]:
    """Jobs the emulator started per row, told by their prompt (a chat completion carries no metadata),
    and those whose create it never answered."""
    row_of = {prompt: key for key, prompt in asked.items()}
    listing: list[dict[str, Any]] = httpx.get(url.removesuffix("/v1") + "/emulator/jobs", timeout=30).json()[
        "data"
    ]
    started = Counter(row_of[job["prompt"]] for job in listing)
    unanswered = Counter(row_of[job["prompt"]] for job in listing if not job["answered"])
    return started, unanswered


async def test_a_500_after_a_chat_job_ran_is_counted_on_its_row(tmp_path: Path) -> None:
    rows = 12
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.01"), fail_rate=0.5, seed=4)
    with running_emulator(config) as emu:
        await run_batch(emu, tmp_path / "batch", rows=rows, backend="chat", api_key="unused", max_attempts=4)
        jobs, unanswered = _jobs_by_prompt(emu.url, prompts(rows))
        codes = emu.emulator.stats()["status_codes"]
    frame = load(tmp_path / "batch")
    assert codes.get("500", 0) > 0
    assert sum(unanswered.values()) == codes["500"]
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    assert int(frame["orphans"].sum()) == codes["500"]  # each such create counted, as maybe sent
    assert (frame["attempts"] == [jobs[key] for key in frame["row_key"]]).all()
