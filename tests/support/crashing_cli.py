"""`rowrelay` with a bug that meets every row, for the tests of a run stopped by crashes alike:
`python -m tests.support.crashing_cli run ...` is the command line with rowrelay's own recording of each
row's accepted create raising, as a bug reading every create's answer would (a trial's reading of the
create stream raised AttributeError for every row)."""

from __future__ import annotations

from typing import Any

from rowrelay.tasks.run import record

BUG = "'ResponseCreatedEvent' object has no attribute 'response_id'"
"""What every row's crash says."""


def crashing(*args: Any, **kwargs: Any) -> Any:
    """`record.accepted` with the bug: raises for every row."""
    raise AttributeError(BUG)


def main() -> None:
    from rowrelay.flows.cli import app
    from tests.support import crashing_cli  # named as imported, not `__main__`: the stop names its place

    record.accepted = crashing_cli.crashing  # the module's name, which the run looks up at each call
    app(prog_name="rowrelay")


if __name__ == "__main__":
    main()
