"""/emulator/counts: the request counters of /emulator/stats, read without walking the responses held."""

from __future__ import annotations

import httpx
import pytest
from openai import AsyncOpenAI

from rowrelay.tasks.emulator import RunningEmulator


async def test_counts_are_the_stats_counters_without_the_walk(
    emulator: RunningEmulator, client: AsyncOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client watching creates pile up (bench_inflight --through-cli, twice a second) reads the counts
    without the emulator listing every response it holds: /emulator/stats does, ~20 us a response on the
    loop that serves, and at tens of thousands held that walk took most of the emulator's core."""
    made = [await client.responses.create(model="gpt-4.1", input="hi", background=True) for _ in range(3)]
    await client.responses.retrieve(made[0].id)
    async with httpx.AsyncClient(base_url=emulator.url.removesuffix("/v1")) as http:
        stats = (await http.get("/emulator/stats")).json()

        def walked(*_: object) -> None:
            raise AssertionError("/emulator/counts walked the responses held")

        monkeypatch.setattr(emulator.emulator, "listing", walked)
        answer = await http.get("/emulator/counts")
    assert answer.status_code == 200
    counts = answer.json()
    # Each counts its own request as it comes, and its answer once sent: the later one counts stats'
    assert counts["routes"] == {**stats["routes"], "GET /emulator/counts": 1}
    assert counts["status_codes"] == {"200": stats["status_codes"]["200"] + 1}
    assert {key: counts[key] for key in ("held", "jobs", "unanswered_creates")} == {
        key: stats[key] for key in ("held", "jobs", "unanswered_creates")
    }
    assert counts["jobs"] == counts["held"] == 3
    assert counts["routes"]["POST /v1/responses"] == 3
    assert counts["routes"]["GET /v1/responses/{response_id}"] == 1
