"""How a planned batch's shards are cut again for a cluster's threads (flows/cluster_run.py `spread`)."""

from __future__ import annotations

from rowrelay.flows.cluster_run import spread
from rowrelay.tasks.run import Shard


def _keys(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_a_small_batch_is_cut_so_every_thread_has_a_shard() -> None:
    shards = spread([Shard(0, None, _keys("r", 400))], slots=4)
    assert [len(shard.keys) for shard in shards] == [100, 100, 100, 100]
    assert [shard.number for shard in shards] == [0, 1, 2, 3]
    assert [key for shard in shards for key in shard.keys] == _keys("r", 400)  # order kept: tokens lead


def test_endpoints_share_the_threads_by_rows_and_take_turns() -> None:
    planned = [Shard(0, "east", _keys("e", 160)), Shard(1, "west", _keys("w", 80))]
    shards = spread(planned, slots=4)
    assert [(shard.endpoint, len(shard.keys)) for shard in shards] == [
        ("east", 54), ("west", 80), ("east", 54), ("east", 52),
    ]  # fmt: skip
    assert [shard.number for shard in shards] == [0, 1, 2, 3]


def test_no_shard_grows_past_what_was_planned() -> None:
    planned = [Shard(n, None, _keys(f"s{n}-", 1000)) for n in range(6)]
    shards = spread(planned, slots=2)
    assert [len(shard.keys) for shard in shards] == [1000] * 6
    assert spread([], slots=4) == []
