"""A small support-ticket dataset on disk, and the template the flow and CLI tests run it with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TEMPLATE = "Triage this ticket.\nSubject: {subject}\n\n{body}"


def write_tickets(path: Path, rows: int) -> Path:
    """`rows` tickets T-00000, T-00001, ... with a subject and a body, as CSV at `path`."""
    frame = pd.DataFrame(
        {
            "ticket_id": [f"T-{i:05d}" for i in range(rows)],
            "subject": [f"Problem number {i}" for i in range(rows)],
            "body": [f"My order {i} did not arrive." for i in range(rows)],
        }
    )
    frame.to_csv(path, index=False)
    return path
