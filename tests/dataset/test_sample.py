"""The committed demo dataset: readable, preparable with the demo template, and reproducible."""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest

from rowrelay.tasks.dataset import InputSpec, prepare, read_input

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
DEMO_TEMPLATE = (
    "Triage this support ticket. Reply with category, priority (P1-P4) and a one-line summary.\n\n"
    "Subject: {subject}\n\n{body}"
)


def _generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Load data/sample/make_tickets.py (not a package); registered so its dataclasses resolve."""
    spec = importlib.util.spec_from_file_location("make_tickets", SAMPLE / "make_tickets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_tickets", module)
    spec.loader.exec_module(module)
    return module


def test_sample_prepares_with_the_demo_template() -> None:
    frame = read_input(SAMPLE / "tickets.csv")
    assert list(frame.columns) == ["ticket_id", "created_at", "customer_tier", "channel", "subject", "body"]
    assert len(frame) == 200
    assert set(frame["customer_tier"]) == {"free", "pro", "enterprise"}
    assert set(frame["channel"]) == {"email", "chat", "phone"}
    prepared = prepare(frame, InputSpec(template=DEMO_TEMPLATE, id_column="ticket_id"))
    assert prepared.rows[0].row_key == "T-00001"
    assert prepared.bad_rows == {}
    assert frame["body"].nunique() > 150


def test_generator_reproduces_the_committed_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    tickets = _generator(monkeypatch).make_tickets()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(tickets[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(tickets)
    assert buffer.getvalue() == (SAMPLE / "tickets.csv").read_text(encoding="utf-8")
