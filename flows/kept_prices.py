"""A batch's prices, kept across its runs as its --max-attempts is (`state.batch_policies`): a run given
none (`--prices`, ROWRELAY_PRICES, `prices=`, a deployment's parameter) on a batch that ran with some
prices with those, so its cost cap, cost and projection stay in one currency of prices.

A user trial: a batch capped at $1 then $3 under a contract's price file, resumed with `--max-cost 10`
and no `--prices`, sent its last 87 rows at the shipped prices, a 250th of the file's, and ended
"cost: $3.00", exit 0, its cap counting the new rows at the cheaper prices, and nothing said.

`run.json` holds the entries by value (`RunRecord.prices`, `recorded_prices`); a run that keeps them
reads them from `prices.json` in the batch's folder (`state.run_record.kept_price_file`), written from
the record, which its settings name as their price file (a Dask worker's shard reads it there too).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rowrelay.flows.backends import backend_name
from rowrelay.tasks.errors import DamagedFileError
from rowrelay.tasks.llm.prices import PriceTable, cap_problem, load_prices, prices_over, provider_of
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import RunRecord
from rowrelay.tasks.state.run_record import kept_price_file, read_run_record

__all__ = ["kept_cap_problem", "kept_prices", "recorded_prices"]


def recorded_prices(table: PriceTable, priced: Iterable[Settings]) -> dict[str, Any] | None:
    """What `run.json` records of `table`, the prices of a run whose rows are priced by `priced` (its
    settings, or each endpoint's): the entries of the models they ask for, and the tool fees, where they
    are not the shipped ones, in a price file's shape; None when every one is the shipped one."""
    shipped = load_prices(None)
    providers: dict[str, dict[str, Any]] = {}
    for settings in priced:
        key = (provider_of(backend_name(settings)), settings.model)
        entry = table.models.get(key)
        if entry is not None and entry != shipped.models.get(key):
            providers.setdefault(key[0], {})[key[1]] = entry.model_dump(mode="json", exclude_none=True)
    fees = {
        tool: fee.model_dump(mode="json", exclude_none=True)
        for tool, fee in sorted(table.tool_calls.items())
        if shipped.tool_calls.get(tool) != fee
    }
    if not providers and not fees:
        return None
    return {"providers": providers, "tool_calls": fees}


def kept_prices(
    settings: Settings, priced: Iterable[Settings], state_dir: Path, earlier: RunRecord | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What `batch_policies` takes for the batch's prices (`BY_VALUE`): the price file standing for its
    recorded ones, written from `earlier` where this run (`settings`) was given none; and, where it was
    given some, their entries in the record's terms (`recorded_prices`), which it compares."""
    if "prices" in settings.model_fields_set:
        return {}, {"prices": recorded_prices(load_prices(settings.prices), priced)}
    if earlier is None or earlier.prices is None:
        return {}, {}
    return {"prices": kept_price_file(state_dir, earlier)}, {}


def kept_cap_problem(
    first: str, settings: Settings, state_dir: Path, endpoints: dict[str, Settings] | None
) -> str | None:
    """`first`, the `cap_problem` of a run given no prices at the shipped ones, asked again at the prices
    the batch at `state_dir` recorded, which the run takes (`rowrelay run` checks the cap before its flow
    reads them): a batch capped under a price file naming a model the shipped table has not (an Azure
    deployment) resumes without it. `first` stands where the batch recorded none."""
    try:
        record = read_run_record(state_dir)
    except DamagedFileError:
        record = None
    if record is None or record.prices is None:
        return first
    try:
        table = prices_over(record.prices, "the prices recorded in run.json")
    except ValueError:  # pydantic's ValidationError: a damaged record's; the run then names it
        return None
    return cap_problem(settings, table, endpoints=endpoints)
