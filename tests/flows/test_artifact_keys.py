"""A batch's artifacts are published under keys Prefect takes, whatever its name: a state folder named
`état du lot ✓` (or a default state from `entrée été ✓.csv`) made a key Prefect refused, so every run
logged a traceback and its summary and failed-rows artifacts were missing."""

from __future__ import annotations

import pytest
from prefect.types.names import raise_on_name_alphanumeric_dashes_only

from rowrelay.flows.artifacts import _key


@pytest.mark.parametrize("batch_id", ["état du lot ✓", "entrée-été-✓-45829c87ea", "ÉTÉ", "✓", "tickets_2026"])
def test_every_batch_name_makes_a_key_prefect_takes(batch_id: str) -> None:
    for kind in ("summary", "failed"):
        key = _key(kind, batch_id)
        assert raise_on_name_alphanumeric_dashes_only(key, "key") == key
        assert key.startswith(f"rowrelay-{kind}-")
