"""The time zone `rowrelay deploy` reads its cron in: the one `--timezone` names, else this machine's.

Prefect reads a cron in its schedule's time zone, and in UTC when the schedule names none: served with
no zone, `--cron '0 2 * * *'` on a machine in New York ran at 02:00 UTC, 9 pm the evening before there,
and nothing said so, where the crontab a user knows reads the same five fields in local time. So a
schedule always names its zone: the one asked for, else the machine's own IANA name when it can be known
(`TZ`, then `/etc/localtime`'s link target, then `/etc/timezone`), else UTC, and `deploy` says which.

Standard library only: `deploy --help` says the machine's zone, and its refusals come before Prefect is
imported. A name is a zone when Prefect's own check would take it (`zoneinfo.available_timezones()`).
"""

from __future__ import annotations

import difflib
import functools
import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MachineZone", "is_zone", "machine_zone", "same_zone", "zone_problem"]

LOCALTIME = Path("/etc/localtime")
TIMEZONE_FILE = Path("/etc/timezone")
EXAMPLES = "e.g. America/New_York, Europe/Paris, UTC"


@dataclass(frozen=True, slots=True)
class MachineZone:
    """The machine's time zone as an IANA name, and where it was found (or why it is UTC)."""

    name: str
    found: str
    """`from TZ`, `from /etc/localtime`, `from /etc/timezone`, or why none could be known."""
    known: bool = True
    """False when none of the machine's settings named a zone and UTC was taken instead."""


_UTC = frozenset(
    {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT",
     "GMT0", "Etc/GMT0", "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich"}
)  # fmt: skip
"""The names of UTC (offset 0 all year): a machine's /etc/localtime names it `Etc/UTC`."""


def same_zone(one: str | None, other: str | None) -> bool:
    """Whether two schedules' zones read a cron alike: a schedule with none is read in UTC (Prefect's
    default, what `deploy` served before it named a zone), as is any of UTC's names."""
    one, other = one or "UTC", other or "UTC"
    return one == other or (one in _UTC and other in _UTC)


@functools.cache
def _zones() -> frozenset[str]:
    # `localtime` (a link to /etc/localtime some systems' tz database holds) is no zone of its own: it
    # would be read as whatever machine's the Prefect server runs on.
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules"}


def is_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone Prefect takes (its validator asks the same set)."""
    return name in _zones()


def zone_problem(name: str) -> str | None:
    """Why `name` cannot be a schedule's time zone, or None; a near name is offered (`america/new_york`,
    `Europe/Pariss`)."""
    if is_zone(name):
        return None
    by_case = {zone.casefold(): zone for zone in _zones()}
    near = by_case.get(name.casefold()) or next(iter(difflib.get_close_matches(name, _zones(), n=1)), None)
    offered = f"did you mean {near}? " if near else ""
    return f"{name!r} is no IANA time zone name; {offered}{EXAMPLES}"


def _named_by_path(path: str) -> str | None:
    """The zone a tz database file's path names: `/usr/share/zoneinfo/America/New_York` (and macOS's
    `/var/db/timezone/zoneinfo/...`, or a link's relative `../usr/share/zoneinfo/...`) is America/New_York;
    `posix/` and `right/` hold the same zones."""
    _, marker, name = path.rpartition("zoneinfo/")
    if not marker:
        return None
    for variant in ("posix/", "right/"):
        name = name.removeprefix(variant)
    return name if is_zone(name) else None


def _from_tz(value: str) -> str | None:
    """The zone TZ names: a name (`Europe/Paris`, `:Europe/Paris`), a tz file's path, or empty (UTC, as
    the C library reads it); None for a POSIX rule such as `EST+5`, which names no IANA zone."""
    value = value.removeprefix(":")
    if not value:
        return "UTC"
    if value.startswith("/"):
        return _named_by_path(value)
    return value if is_zone(value) else None


def machine_zone(
    environ: Mapping[str, str] = os.environ, localtime: Path = LOCALTIME, timezone_file: Path = TIMEZONE_FILE
) -> MachineZone:
    """This machine's IANA time zone, as local time is read here: `TZ` first (it overrides the system's
    zone for the processes it is set for), then `/etc/localtime`'s link target, then `/etc/timezone`;
    UTC, saying why, when none names one (a `TZ` of a POSIX rule, a copied /etc/localtime)."""
    if (tz := environ.get("TZ")) is not None:
        if (name := _from_tz(tz)) is not None:
            return MachineZone(name, "from TZ")
        return MachineZone("UTC", f"TZ={tz!r} names no IANA time zone", known=False)
    try:
        if (name := _named_by_path(str(localtime.readlink()))) is not None:
            return MachineZone(name, f"from {localtime}")
    except OSError:  # not a link (a copy of the zone's file names nothing), or absent
        pass
    try:
        name = timezone_file.read_text().strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if is_zone(name):
        return MachineZone(name, f"from {timezone_file}")
    return MachineZone(
        "UTC", f"no time zone is named on this machine (TZ, {localtime}, {timezone_file})", False
    )
