"""The shared Dask cluster the tests of a module run on (`tests/support/dask_cluster`): one a module, so a
module that kills a worker or the scheduler leaves the next a fresh one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dask_cluster import SharedClusters, shared_clusters


@pytest.fixture(scope="module")
def clusters(prefect_env: dict[str, str]) -> Iterator[SharedClusters]:
    with shared_clusters(prefect_env) as running:
        yield running
