"""What a run stopped by the cost cap (`--max-cost`) says: what the batch counted against the cap, in its
two parts, and what is left to send.

    cost cap reached: spent $0.002728, and up to $0.00724 more in 9 creates whose answers were lost
    (possible duplicates), of --max-cost $0.01; 30 rows not sent and 6 rows to send again (their answers
    lost, failed or cut short); run the same command with a higher --max-cost to go on (the batch counts
    $0.009968 against it)

The cap counts what was paid and the estimates of creates that may have started a job no answer named
(`Ledger.lost`); a message naming the first alone said a run stopped at $0.004831 of $0.01, its cap full.
Rows sent whose answers were lost are not "not sent": they are sent again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.records import rows, usd
from rowrelay.tasks.setting_problems import option_of, same_run
from rowrelay.tasks.state import StateTable

__all__ = ["LeftToSend", "LostCreates", "left_to_send", "stop_message"]


@dataclass
class LostCreates:
    """Creates that may have started a job no answer named (possible duplicates), and their estimates."""

    creates: int = 0
    usd: float = 0.0
    _rows: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Rows whose earlier runs' lost creates are counted: their estimate, and how many (`at_least`)."""

    def add(self, estimate: float, creates: int) -> None:
        self.creates += creates
        self.usd += estimate

    def at_least(self, key: str, estimate: float, creates: int) -> float:
        """Count row `key`'s `creates` lost by earlier runs at `estimate` at least; returns what this adds:
        the whole estimate at the row's first count, then only what a dearer estimate (another endpoint's
        price) adds, its creates counted once."""
        had = self._rows.get(key)
        if had is not None and estimate <= had[0]:
            return 0.0
        if had is None:
            self.creates += creates
        self._rows[key] = (estimate, creates)
        more = estimate - (0.0 if had is None else had[0])
        self.usd += more
        return more

    def earlier_of(self, keys: Collection[str]) -> float | None:
        """What the earlier runs' lost creates of rows `keys` may have cost, as the cap counts them; None
        when one of them was not counted (no price for its model)."""
        if any(key not in self._rows for key in keys):
            return None
        return sum(self._rows[key][0] for key in keys)


@dataclass(frozen=True)
class LeftToSend:
    """Rows the cap kept from being sent: never sent, and sent before but to send again (their answers
    lost, failed or cut short)."""

    never_sent: int
    again: int


def left_to_send(table: StateTable, keys: Collection[str], held: Mapping[str, int]) -> LeftToSend:
    """`keys` (the rows a run would send, `plan.send_order`) told apart by whether a create was ever sent
    for them (`attempts`), less the rows the run's `--limit` held back (`held`, per status: a `pending`
    one counted as never sent, which it is unless `retry` put it back)."""
    columns = table.columns(None, ("row_key", "attempts"))
    among = columns.filter(pc.is_in(columns.column("row_key"), value_set=pa.array(list(keys), pa.string())))
    again = len(among.filter(pc.greater(among.column("attempts"), pa.scalar(0))))
    held_pending = held.get("pending", 0)
    held_sent = sum(held.values()) - held_pending
    return LeftToSend(max(0, len(among) - again - held_pending), max(0, again - held_sent))


def stop_message(
    counted: float,
    duplicates: LostCreates,
    cap: float,
    left: LeftToSend,
    tools_unbounded: bool = False,
    *,
    unmetered: LostCreates | None = None,
) -> str:
    """The line of a run the cap stopped: `counted` is everything the batch counts against `cap`, of
    which `duplicates` are the creates whose answers were lost, and `unmetered` the answers the server
    gave without their token usage (each at its estimate). Past the cap, it says by how much and why
    (`_over_said`); `tools_unbounded`: the rows call hosted tools with no `--max-tool-calls`."""
    unmetered = unmetered or LostCreates()
    spent = max(0.0, counted - duplicates.usd - unmetered.usd)  # what answers with usage were billed
    parts = _spent_said(spent, unmetered)
    if duplicates.creates:
        creates = f"{duplicates.creates:,} create" + ("" if duplicates.creates == 1 else "s")
        whose = "whose answer was" if duplicates.creates == 1 else "whose answers were"
        parts.append(f"up to {usd(duplicates.usd)} more in {creates} {whose} lost (possible duplicates)")
    said = ", and ".join(parts) + ("," if len(parts) > 1 else "") + f" of {option_of('max_cost')} {usd(cap)}"
    then = f" (the batch counts {usd(counted)} against it)" if duplicates.creates or unmetered.creates else ""
    return (
        f"cost cap reached: {said}; {_left_said(left)}; run {same_run()} with a higher "
        f"{option_of('max_cost')} to go on{then}{_over_said(counted - cap, tools_unbounded)}"
    )


def _spent_said(spent: float, unmetered: LostCreates) -> list[str]:
    """['spent $0.0049'], with the answers given without token usage apart: a server that leaves usage out
    (vLLM, Ollama) stopped a capped run at 'spent $0.04934 of --max-cost $0.05' under its summary's
    'cost: unknown', every cent of it estimates."""
    if not unmetered.creates:
        return [f"spent {usd(spent)}"]
    answers = f"{unmetered.creates:,} answer" + ("" if unmetered.creates == 1 else "s")
    estimated = f"{usd(unmetered.usd)} counted at their estimates for {answers} given without token usage"
    if spent <= 0.0:
        return [f"{estimated} (what they cost is not known)"]
    return [f"spent {usd(spent)}", estimated]


def _over_said(over: float, tools_unbounded: bool) -> str:
    """Why a stopped run counts more than its cap: the rows in flight as it was reached are answered (and
    paid for) all the same, and each was sent on an estimate their answers passed. A trial's `--tools
    web_search --max-cost 0.05` spent $0.1105 (2.8 calls a row, sent on a guess of one until answers
    taught it) and the line said only "spent $0.1105 of --max-cost $0.05"."""
    if over <= 0:
        return ""
    why = f"; {usd(over)} over it: the rows already sent when it was reached cost more than their estimate"
    if tools_unbounded:
        why += f" (their hosted tool calls: {option_of('max_tool_calls')} bounds a row's, and its estimate)"
    return why


def _left_said(left: LeftToSend) -> str:
    if not left.again:
        return f"{rows(left.never_sent)} not sent"
    again = f"{rows(left.again)} to send again (their answers lost, failed or cut short)"
    return again if not left.never_sent else f"{rows(left.never_sent)} not sent and {again}"
