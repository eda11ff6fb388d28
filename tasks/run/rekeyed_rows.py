"""Rows the batch sent that are back in its input under other ids: refused, as they would be paid twice.

    rekeyed = refuse_rekeyed(table.columns(None, REKEY_FACTS), prepared.planned())  # or raise UsageError

A row is known by its key (its id), and its `input_hash` says what it asks (the instructions, the prompt,
what it attaches: `dataset.preparing`). A nightly input whose ids changed form (`1` written `001`, say)
holds the batch's rows under keys it does not hold: each was planned as new and sent again, every one
paid twice, and the run only warned that the state's rows were not in its input. `_check_same_keys`
(`flows.same_server`) refuses another `--id-column`; this is the same ids written otherwise.

The rows so matched: rows the batch sent (any create, an attempt or an orphan, or a response id) that
the input no longer holds, each paired with an input row under a key the batch does not hold asking the
same (the same input hash). Such a pair can be a coincidence: a row deleted and a new one added asking
the very same (a template over a column of a few values). Refusing it would stop a nightly feed for a
row or two paid again, and the way past a refusal, a new `--state`, pays for every row again. So a run
is refused only when the pairs are not a coincidence:

- a pair's ids are the same id written otherwise (apart from leading zeros and spaces around it: `001`
  and `1`, ` A7 ` and `A07`; case is not ignored, ids that differ in it are other records): an id and a
  request both alike is no coincidence, one row suffices;
- or at least `_MANY` rows are matched, each by a request asked once among the rows gone and once among
  the new ones, and they are most of the sent rows the input no longer holds (ids renumbered, or replaced
  with others). Requests asked again and again (a template over a column of a few values: a feed
  replaced every night) match by chance, and so do a few rows: those are said and sent.

A row not held by the batch that asks the same as a row it holds under its own key is not matched: the
input holds both (a duplicate), and the batch's row is not sent again.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.records import rows
from rowrelay.tasks.setting_problems import option_of

__all__ = ["REKEY_FACTS", "Rekeyed", "refuse_rekeyed", "rekeyed_examples", "rekeyed_problem", "rekeyed_rows"]

REKEY_FACTS = ("row_key", "input_hash", "attempts", "orphans", "response_id")
"""The state's columns `rekeyed_rows` reads: a row's key and request, and whether it was ever sent."""

_SHOWN = 3
"""How many pairs a refusal shows."""
_MANY = 10
"""Pairs of distinct requests that, being most of the rows gone, are no coincidence. Fewer, when they are
renumbered rows, are paid again with a warning (a few rows); refused, a coincidence would stop a nightly
run (a trial's 2 dropped rows, "Great product!" and "Good", came back as new reviews)."""
_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")


@dataclass(frozen=True)
class Rekeyed:
    """Rows of the input that are rows the batch sent, under other ids."""

    pairs: list[tuple[str, str]]
    """(the input's id, the batch's id) of each input row under an id the batch does not hold that asks
    the same as a row the batch sent and the input no longer holds: each such row of the batch once."""
    gone: int
    """Rows the batch sent that the input no longer holds."""
    distinct: int = 0
    """Pairs whose request is asked once among the rows gone and once among the input's new rows."""

    @property
    def refused(self) -> bool:
        """Whether the pairs are not a coincidence (see the module's docstring): the run is refused."""
        if any(_same_id(new, old) for new, old in self.pairs):
            return True
        return self.distinct >= _MANY and 2 * self.distinct > self.gone


def rekeyed_rows(stored: pa.Table, planned: pa.Table) -> Rekeyed:
    """The rows of `planned` (the input's `row_key`, `input_hash`) that ask what rows of `stored` (the
    state's `REKEY_FACTS`) asked, where the state's row was sent and the input no longer holds it, and
    the input's row is under a key the state does not hold."""
    stored_keys = stored.column("row_key").combine_chunks()
    input_keys = planned.column("row_key").combine_chunks()
    none = pa.scalar(0, pa.int32())
    tried = pc.or_(pc.greater(stored.column("attempts"), none), pc.greater(stored.column("orphans"), none))
    sent: Any = pc.or_(tried, pc.is_valid(stored.column("response_id")))
    gone = stored.filter(pc.and_(sent, pc.invert(pc.is_in(stored_keys, value_set=input_keys))))
    if not gone.num_rows:
        return Rekeyed([], 0)
    new = planned.filter(pc.invert(pc.is_in(input_keys, value_set=stored_keys)))
    asked: Any = pc.is_in(new.column("input_hash"), value_set=gone.column("input_hash").combine_chunks())
    alike = new.filter(asked)
    if not alike.num_rows:
        return Rekeyed([], gone.num_rows)
    was: dict[str, list[str]] = defaultdict(list)  # each request's ids in the batch
    matched = pc.is_in(gone.column("input_hash"), value_set=alike.column("input_hash").combine_chunks())
    for key, input_hash in _pairs(gone.filter(matched)):
        was[input_hash].append(key)
    for ids in was.values():
        ids.reverse()  # popped from the end: the state's first row is matched first
    once_gone = {input_hash for input_hash, ids in was.items() if len(ids) == 1}
    asked_new = Counter(input_hash for _, input_hash in _pairs(alike))
    pairs: list[tuple[str, str]] = []
    distinct = 0
    for key, input_hash in _pairs(alike):
        olds = was[input_hash]
        if olds:  # each of the batch's rows is matched once, however often the input asks the same
            pairs.append((key, olds.pop()))
            distinct += input_hash in once_gone and asked_new[input_hash] == 1
    return Rekeyed(pairs, gone.num_rows, distinct)


def _pairs(table: pa.Table) -> list[tuple[str, str]]:
    """(row_key, input_hash) of each of `table`'s rows."""
    keys, hashes = table.column("row_key").to_pylist(), table.column("input_hash").to_pylist()
    return [(str(key), str(input_hash)) for key, input_hash in zip(keys, hashes, strict=True)]


def refuse_rekeyed(stored: pa.Table, planned: pa.Table) -> Rekeyed:
    """`rekeyed_rows`, refused (`UsageError`, `rekeyed_problem`) when they are not a coincidence: what
    the plan, and the checks before a run starts, ask."""
    rekeyed = rekeyed_rows(stored, planned)
    if rekeyed.refused:
        raise UsageError(rekeyed_problem(rekeyed))
    return rekeyed


def _same_id(new: str, old: str) -> bool:
    """Whether two ids are one written otherwise: alike but for leading zeros and spaces around."""
    return _plain(new) == _plain(old)


def _plain(key: str) -> str:
    return _LEADING_ZEROS.sub("", key.strip())


def rekeyed_problem(rekeyed: Rekeyed) -> str:
    """What a refusal of re-keyed rows says: how many, a few examples, and the ways on."""
    count = len(rekeyed.pairs)
    return (
        f"{rows(count)} this batch sent {'is' if count == 1 else 'are'} in its input under other ids, "
        f"asking the same ({rekeyed_examples(rekeyed)}): each would be sent, and paid for, again. Give the "
        "input its earlier ids to resume the batch; if they are new rows asking the same, keep the earlier "
        "rows in the input beside them (rows the batch answered are not sent again), or pass a new "
        f"{option_of('state')}, which sends every row again"
    )


def rekeyed_examples(rekeyed: Rekeyed) -> str:
    """A few of the pairs, as a refusal shows them: `e.g. id 001 was 1, id 002 was 2, id 003 was 3 …`."""
    shown = ", ".join(f"id {new} was {old}" for new, old in rekeyed.pairs[:_SHOWN])
    return f"e.g. {shown}{' …' if len(rekeyed.pairs) > _SHOWN else ''}"
