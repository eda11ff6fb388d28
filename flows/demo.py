"""`make demo`: 200 support tickets triaged through `rowrelay run` on the embedded emulator.

No key and no network: the emulator starts as a detached local process with realistic latency, the
batch runs with a live progress bar, and the summary says where the output is. Run it twice: the second
run finds every row completed and sends nothing.
"""

from __future__ import annotations

import sys

from typer.main import get_command

from rowrelay.flows.cli import app

SAMPLE = "data/sample/tickets.csv"
TEMPLATE = (
    "Triage this support ticket. Reply with a category, a priority (P1-P4) and a one-line summary.\n\n"
    "Customer tier: {customer_tier}. Channel: {channel}.\nSubject: {subject}\n\n{body}"
)


def main() -> None:
    args = [
        "run", SAMPLE, "--template", TEMPLATE, "--id-column", "ticket_id",
        "--state", "data/state/demo-tickets", "--output", "data/output/demo-tickets.parquet",
        "--instructions", "You are a support lead. Be brief.",
    ]  # fmt: skip
    command = get_command(app)
    sys.exit(command.main(args=args, prog_name="rowrelay", standalone_mode=True))


if __name__ == "__main__":
    main()
