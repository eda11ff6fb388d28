"""`rowrelay deploy --cron` is read in a named time zone: `--timezone`, else this machine's.

Prefect reads a cron given no zone in UTC: `TZ=America/New_York rowrelay deploy ... --cron '0 2 * * *'`
was served with no zone and ran at 02:00 UTC, 9 pm the evening before in New York, and nothing said so,
where a crontab reads the same fields in local time (flows/time_zones.py).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rowrelay.flows.time_zones import MachineZone, machine_zone
from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from tests.support.deployments import plan_runs, serving, stopped, wait_for_deployment

NEW_YORK = "America/New_York"


def _zone_of(
    tmp_path: Path, environ: dict[str, str], link: str | None = None, named: str | None = None
) -> MachineZone:
    """`machine_zone` on a machine whose /etc/localtime links to `link` and /etc/timezone holds `named`."""
    tmp_path.mkdir(exist_ok=True)
    localtime, timezone_file = tmp_path / "localtime", tmp_path / "timezone"
    if link is not None:
        localtime.symlink_to(link)
    if named is not None:
        timezone_file.write_text(f"{named}\n")
    return machine_zone(environ, localtime, timezone_file)


@pytest.mark.parametrize(
    ("tz", "zone"),
    [
        (NEW_YORK, NEW_YORK),
        (f":{NEW_YORK}", NEW_YORK),  # the C library's ':' form
        ("/usr/share/zoneinfo/posix/Europe/Paris", "Europe/Paris"),  # a tz file, posix/ its twin
        ("", "UTC"),  # set but empty: UTC, as the C library reads it
    ],
)
def test_tz_names_the_machines_zone_before_its_files(tmp_path: Path, tz: str, zone: str) -> None:
    found = _zone_of(tmp_path, {"TZ": tz}, link="/usr/share/zoneinfo/Asia/Tokyo", named="Asia/Tokyo")
    assert found == MachineZone(zone, "from TZ")


def test_without_tz_the_link_then_the_file_name_the_zone(tmp_path: Path) -> None:
    relative = _zone_of(tmp_path / "a", {}, link="../usr/share/zoneinfo/Europe/Berlin", named="Asia/Tokyo")
    assert relative == MachineZone("Europe/Berlin", f"from {tmp_path / 'a' / 'localtime'}")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "localtime").write_bytes(b"TZif")  # a copy of a zone's file names none
    assert _zone_of(tmp_path / "b", {}, named="Asia/Tokyo") == MachineZone(
        "Asia/Tokyo", f"from {tmp_path / 'b' / 'timezone'}"
    )


def test_a_machine_naming_no_zone_is_utc_and_says_why(tmp_path: Path) -> None:
    """A TZ of a POSIX rule sets local time, but names no zone Prefect could read a cron in."""
    posix_rule = _zone_of(tmp_path / "a", {"TZ": "EST+5"}, link="/usr/share/zoneinfo/Asia/Tokyo")
    assert posix_rule == MachineZone("UTC", "TZ='EST+5' names no IANA time zone", known=False)
    nothing = _zone_of(tmp_path / "b", {})
    assert (nothing.name, nothing.known) == ("UTC", False)
    assert nothing.found.startswith("no time zone is named on this machine (TZ, "), nothing


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_the_cron_is_read_in_the_machines_zone_and_the_next_run_said_in_it(
    prefect_env: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    """Served on a machine in New York with no --timezone, '0 3 * * *' runs at 03:00 there (08:00 or
    07:00 UTC), as the schedule Prefect holds says and the runs its server plans are; the serving line
    says the zone, where it came from, and the next run in it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    log = tmp_path / "serve-nyc.log"
    with running_emulator(EmulatorConfig()) as emu:
        server = serving("nyc", {**prefect_env, "TZ": NEW_YORK}, emu.url, tmp_path, rows=3, log=log)
        try:
            deployment = await wait_for_deployment("rowrelay-batch/nyc", log)
            deployment_id = deployment.id  # type: ignore[attr-defined]
            async with get_client() as client:
                schedules = (await client.read_deployment(deployment_id)).schedules
            assert [(s.schedule.cron, s.schedule.timezone) for s in schedules] == [  # type: ignore[union-attr]
                ("0 3 * * *", NEW_YORK)
            ]
            now = datetime.now(UTC)
            await plan_runs(deployment_id, now, now + timedelta(days=3))  # the runs it plans, three nights
            async with get_client() as client:
                only_it = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
                starts = sorted(
                    run.expected_start_time
                    for run in await client.read_flow_runs(deployment_filter=only_it)
                    if run.expected_start_time
                )
            there = [start.astimezone(ZoneInfo(NEW_YORK)) for start in starts]
            assert len(there) >= 3, there
            assert {(at.hour, at.minute) for at in there} == {(3, 0)}, starts
            deadline = time.monotonic() + 30
            while "deployment 'nyc' runs on" not in log.read_text():  # said before serving: there by now
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.2)
        finally:
            stopped(server)
    first, in_utc = there[0], starts[0].astimezone(UTC)
    line = next(line for line in log.read_text().splitlines() if line.startswith("deployment 'nyc' runs on"))
    assert line == (
        f"deployment 'nyc' runs on '0 3 * * *' in {NEW_YORK} (this machine's time zone, from TZ; --timezone "
        f"names another): next run {first:%a %Y-%m-%d} 03:00 {first.tzname()} ({in_utc:%H:%M} UTC)"
    ), line
