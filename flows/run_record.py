"""The batch's run record (`run.json`): what `rowrelay export` and `cancel` need later, written by each run
before it sends anything: where it ran and what it asked, never a key. What the batch's runs keep from it
(its --max-attempts, orphan policy and prices, unless a run is given others) is taken here too
(`kept_policies`)."""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rowrelay.flows.kept_prices import kept_prices, recorded_prices
from rowrelay.flows.request import BatchRequest
from rowrelay.flows.run_end import began_here
from rowrelay.flows.server_moved import say_if_moved
from rowrelay.flows.targets import Target, recorded_endpoints
from rowrelay.tasks.errors import DamagedFileError
from rowrelay.tasks.hosted_tools import tool_list
from rowrelay.tasks.llm.prices import load_prices
from rowrelay.tasks.setting_problems import given_as, said_as
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import RunRecord, read_run_record, write_run_record
from rowrelay.tasks.state.batch_policies import batch_policies, overridden

__all__ = ["kept_policies", "record_run"]

log = logging.getLogger("rowrelay.resume")


def record_run(
    state_dir: Path,
    request: BatchRequest,
    out: Path,
    settings: Settings,
    url: str | None,
    targets: list[Target],
    reading: int,
    kept: RunRecord | None = None,
) -> RunRecord:
    """What `rowrelay export`/`cancel` need later: never a key, only where and what (atomic, fsynced).
    `kept`: the batch's record, whose server stays on record (this run, on another, sends nothing).
    Returns the record written, which the run hands down rather than read back (`flows.processing`)."""
    earlier = _earlier(state_dir)
    record = RunRecord(
        input=request.input_path(),
        spec=asdict(request.spec),
        output=str(out.resolve()),  # `export` from any folder writes where this run did
        state=str(state_dir.resolve()),  # whose output that is: `export` of a copy writes none there
        backend=settings.backend,
        base_url=url,
        model=settings.model,
        mode=settings.mode,
        reasoning_effort=settings.reasoning_effort,
        temperature=settings.temperature,
        image_detail=settings.image_detail,
        reasoning_summary=settings.reasoning_summary,
        logprobs=settings.logprobs,
        tools=list(tool_list(settings.tools)) or None,
        agent=request.agent,
        output_schema=None if request.output_schema is None else request.output_schema.schema,
        endpoints=recorded_endpoints(targets),
        azure_endpoint=settings.azure_endpoint if settings.backend == "azure" else None,
        reading=reading,
        max_attempts=settings.max_attempts,
        orphan_policy=settings.orphan_policy,
        prices=recorded_prices(load_prices(settings.prices), [target.settings for target in targets]),
        **_noted(earlier),
        began=began_here(state_dir),  # this run's: its end is noted on it (flows/run_end.py)
    )
    if kept is not None:
        server = ("backend", "base_url", "azure_endpoint", "endpoints")
        record = replace(record, **{name: getattr(kept, name) for name in server})
    else:
        say_if_moved(earlier, record, state_dir)  # rows of another server's answers may be in the batch
    write_run_record(state_dir, record)
    return record


def kept_policies(request: BatchRequest, state_dir: Path) -> BatchRequest:
    """`request` with the batch's --max-attempts, orphan policy and prices where this run was given none
    (`state.batch_policies`: given, else recorded, else the default), its endpoints' settings too, so a
    shard on a Dask worker takes them with its endpoint's; a given one that differs from the batch's is
    said once, in one line, and recorded prices taken are said once too. Before the table opens: its
    open counts a killed run's rows being sent as orphans, noting what the run does with them
    (`state.orphans`)."""
    earlier = _earlier(state_dir)
    priced = [endpoint.settings for endpoint in request.endpoints] or [request.settings]
    stand_ins, as_recorded = kept_prices(request.settings, priced, state_dir, earlier)
    differ = overridden(request.settings, earlier, as_recorded)
    if differ:
        log.warning(_overridden_said(differ, request.overrides))
    if stand_ins:
        log.warning(
            "prices: as this batch ran with (recorded in run.json), so its cost, cost cap and projection "
            f"stay at the same prices; {given_as('prices', 'FILE')} to change them"
        )

    def kept(settings: Settings) -> Settings:
        return batch_policies(settings, earlier, stand_ins)

    endpoints = tuple(replace(e, settings=kept(e.settings)) for e in request.endpoints)
    return replace(request, settings=kept(request.settings), endpoints=endpoints)


_WHAT = {"max_attempts": "the creates per row", "orphan_policy": "the orphan policy"}


def _overridden_said(differ: dict[str, tuple[Any, Any]], overrides: dict[str, Any]) -> str:
    """`--max-attempts 2 given: this run takes it over 5, the creates per row this batch ran with; ...`"""
    said = []
    for name, (given, recorded) in differ.items():
        named = given_as(name, str(given)) if name in overrides else f"{said_as(name, overrides)}={given}"
        if name == "prices":  # held by value: its entries are no words
            over = "rowrelay's shipped ones" if recorded is None else "those recorded in run.json"
            said.append(
                f"{named} given: this run prices the rows it sends from now at its prices, over {over}, "
                "which this batch ran with (rows already answered keep their cost_usd)"
            )
        else:
            said.append(
                f"{named} given: this run takes it over {recorded}, {_WHAT[name]} this batch ran with"
            )
    return "; ".join(said) + " (its later runs keep what this run takes, unless given another)"


def _earlier(state_dir: Path) -> RunRecord | None:
    """The batch's record of its earlier run; a damaged one is replaced, as before, and read as none."""
    try:
        return read_run_record(state_dir)
    except DamagedFileError:
        return None


def _noted(earlier: RunRecord | None) -> dict[str, Any]:
    """What earlier runs noted for the batch's later ones: the endpoints found cutting streams
    (`run.cut_streams`), sent plain creates from the start, and the models said to have no price
    (`flows.unpriced`), not said again."""
    if earlier is None:
        return {"streams_cut": None, "unpriced_said": None}
    return {"streams_cut": earlier.streams_cut, "unpriced_said": earlier.unpriced_said}
