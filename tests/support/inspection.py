"""The emulator's /emulator inspection routes over its socket, and waiting for what they report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from rowrelay.tasks.emulator import RunningEmulator

T = TypeVar("T")
TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})


async def inspect(emu: RunningEmulator, route: str) -> Any:
    """GET /emulator/<route> as JSON: `jobs` and `responses` give their `data` list, `stats` its object."""
    async with httpx.AsyncClient(base_url=emu.url.removesuffix("/v1"), timeout=20) as http:
        payload = (await http.get(f"/emulator/{route}")).raise_for_status().json()
    return payload["data"] if route in ("jobs", "responses") else payload


async def jobs(emu: RunningEmulator) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await inspect(emu, "jobs")
    return rows


async def stats(emu: RunningEmulator) -> dict[str, Any]:
    payload: dict[str, Any] = await inspect(emu, "stats")
    return payload


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Probe until `done` holds; a condition to wait for, not a time window (the cap only ends a hang)."""
    for _ in range(1000):
        value = await probe()
        if done(value):
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened; last seen {value!r}")


def reading(value: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """`value` as a probe for `eventually`: for a condition on this process's own state (a counter, a
    list a test server fills), which needs no request to read."""

    async def probe() -> T:
        return value()

    return probe


async def finished_job(emu: RunningEmulator, job_id: str) -> dict[str, Any]:
    """The job's /emulator/jobs row once it has run to its end."""

    async def row() -> dict[str, Any] | None:
        return next((job for job in await jobs(emu) if job["id"] == job_id), None)

    final = await eventually(row, lambda job: job is not None and job["status"] in TERMINAL)
    assert final is not None
    return final
