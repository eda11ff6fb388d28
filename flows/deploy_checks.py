"""What `rowrelay deploy` refuses before anything starts: a schedule or a name Prefect would take wrongly,
or refuse only once its server had started. Light to import: the help of `--cron` is built from it."""

from __future__ import annotations

FIVE_FIELDS = (
    "five fields, minute hour day-of-month month day-of-week, e.g. '0 2 * * *' (02:00 daily), or one of "
    "@hourly, @daily, @weekly, @monthly, @yearly"
)
"""The schedules `--cron` takes, as its help and its refusals say them."""


def cron_problem(cron: str) -> str | None:
    """Why `cron` cannot be the deployment's schedule, or None. Served, one Prefect refused was a traceback
    once the Prefect server had started; one Prefect took with six or seven fields ran far more often
    than the five fields it was taken for."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    fields = cron.split()
    nickname = len(fields) == 1 and fields[0].startswith("@")  # @daily and the like; Prefect checks which
    if len(fields) > 5:
        # Prefect's croniter reads a sixth field as seconds and a seventh as years: '0 2 * * * 30' ran at
        # 02:00:30, the Quartz-style '0 0 2 * * *' every second of 00:00 on the 2nd (60 runs), and
        # '* * * * * * *' every few seconds, each run a batch.
        return f'"{cron}" has {len(fields)} fields (Prefect would read the sixth as seconds); {FIVE_FIELDS}'
    if len(fields) < 5 and not nickname:
        return f'"{cron}" has {len(fields)} field{"" if len(fields) == 1 else "s"}; {FIVE_FIELDS}'
    try:
        CronSchedule(cron=cron)
    except ValidationError as exc:
        said = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        return f"{said}; {FIVE_FIELDS}"
    return None


def name_problem(name: str) -> str | None:
    """Why `name` cannot name the deployment, or None. Prefect's runner refused a '/' or '%' with a
    traceback once the Prefect server had started, and its API refuses '&', '<' and '>'; the name is
    also the default state directory's (`<state dir>/NAME`), where '', '.' and '..' are not a folder of
    its own."""
    from prefect.types.names import BANNED_CHARACTERS

    example = "e.g. nightly"
    if not name.strip() or name in {".", ".."}:
        return f"{name!r} is no name; {example}"
    if banned := [char for char in BANNED_CHARACTERS if char in name]:
        return f"{name!r} holds {' '.join(banned)}, which Prefect refuses in a deployment's name; {example}"
    if not name.isprintable():
        return f"{name!r} holds a control character; {example}"
    return None
