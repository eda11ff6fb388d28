"""Cutting a run's rows into shards, each on one endpoint.

    shards = cut_shards(holding, fresh, 1000, {"east": 3000, "west": 1000})

A row holding a token goes to the endpoint that created it (the state table's `endpoint` column): only
that server knows its response, so a token whose endpoint is not listed stops the run, naming it, before
anything is sent, rather than being polled on the wrong server. Rows to send are spread across the
endpoints in proportion to their `rpm` (largest remainders, so the shares add up), each endpoint taking a
contiguous run of them; within an endpoint, rows holding a token lead. Without endpoints every shard's
endpoint is None, and so must every token's be.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.setting_problems import option_of

__all__ = ["Shard", "apportion", "cut_shards", "unreachable_problem"]


@dataclass(frozen=True)
class Shard:
    """One Prefect task's rows, all on `endpoint` (None: the run's own settings)."""

    number: int
    endpoint: str | None
    keys: list[str]


def cut_shards(
    holding: Sequence[tuple[str, str | None]],
    fresh: Sequence[str],
    shard_size: int,
    rpm: Mapping[str, int] | None = None,
) -> list[Shard]:
    """Shards of at most `shard_size` keys. `holding`: (key, endpoint) of the rows holding a token;
    `fresh`: the rows to send; `rpm`: each endpoint's creates per minute, in the order they are listed
    (None: a run without endpoints)."""
    names: list[str | None] = [None] if rpm is None else list(rpm)
    problem = unreachable_problem((endpoint for _key, endpoint in holding), None if rpm is None else names)
    if problem is not None:
        raise UsageError(problem)
    waiting: dict[str | None, list[str]] = {name: [] for name in names}
    for key, endpoint in holding:
        waiting[endpoint].append(key)
    shares = [len(fresh)] if rpm is None else apportion(len(fresh), list(rpm.values()))
    shards: list[Shard] = []
    start = 0
    for name, share in zip(names, shares, strict=True):
        keys = [*waiting[name], *fresh[start : start + share]]
        start += share
        for at in range(0, len(keys), shard_size):
            shards.append(Shard(len(shards), name, keys[at : at + shard_size]))
    return shards


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders: the parts add up to `total`)."""
    whole = sum(weights)
    exact = [total * weight / whole for weight in weights]
    parts = [int(share) for share in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: parts[i] - exact[i])  # largest first
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def unreachable_problem(
    created_on: Iterable[str | None], listed: Collection[str | None] | None
) -> str | None:
    """One line when rows hold tokens on endpoints this run does not list (`created_on`: the endpoint of
    each row holding a token; `listed`: the run's endpoint names, None without endpoints), else None."""
    reachable = {None} if listed is None else set(listed)
    strays = Counter(endpoint for endpoint in created_on if endpoint not in reachable)
    return _strays_problem(strays, listed is None) if strays else None


def _strays_problem(strays: Mapping[str | None, int], no_endpoints: bool) -> str:
    """One line: which rows hold tokens this run cannot reach, and what to do."""
    endpoints = option_of("endpoints")
    where = [
        f"{count} created without {endpoints}" if name is None else f"{count} on endpoint {name!r}"
        for name, count in sorted(strays.items(), key=lambda item: str(item[0]))
    ]
    listed = f"run with the {endpoints} file that lists" if no_endpoints else f"list in {endpoints}"
    return (
        f"rows hold responses this run cannot reach ({', '.join(where)}): only the server that created a "
        f"response can poll or cancel it; {listed} that endpoint again (rows made without endpoints: run "
        f"without {endpoints})"
    )
