"""`run_batch` and its `with_options` copies run recorded in the local Prefect server when called from
Python (the call itself is exercised in tests/flows/test_local_prefect.py)."""

from __future__ import annotations

from rowrelay.flows.batch import run_batch
from rowrelay.flows.tracked_flow import LocallyTracked


def test_a_copy_with_other_options_is_tracked_as_the_flow_is() -> None:
    nightly = run_batch.with_options(name="nightly-triage", retries=1)
    assert isinstance(nightly, LocallyTracked)
    assert (nightly.name, nightly.retries, nightly.fn) == ("nightly-triage", 1, run_batch.fn)
    assert nightly.on_cancellation_hooks == run_batch.on_cancellation_hooks
    assert isinstance(run_batch, LocallyTracked)
