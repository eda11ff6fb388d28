"""The results of a batch as the output writer takes them: one row per input row, keyed by row_index.

The state table keeps every detail of a row (tokens, attempts, timings, continuation tokens); an export
needs only its outcome. `results_frame` picks that out of a loaded state frame: the status (as
`rowrelay_status`, so it cannot clash with an input column named `status`), the output text, the error
(only for rows that did not complete: a completed row may still carry a message noted on its way there,
such as a transient error it recovered from, which is not its result), the token counts (cached input
tokens among them) and what the row cost (`cost_usd`, all its attempts), then the columns only some
batches ask for (`asked_columns`).

    write_output(prepared.frame, results_frame(load(state_dir), prepared.keys), "out.parquet")

A result's `row_index` is where its row's key is in the input being written (`keys`, the input's row
keys in input order), not the `row_index` the state recorded: that is where the row was when first
planned, and an input sorted, filtered or otherwise edited since would pair one row's input with
another's result. A state row whose key the input no longer holds is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.citations import CITATION_FIELDS, citations_from_text
from rowrelay.tasks.state.input_order import input_positions
from rowrelay.tasks.state.reader import load
from rowrelay.tasks.token_logprobs import answer_logprob, logprobs_from_text

if TYPE_CHECKING:
    import pandas as pd  # only the frame's own methods are used: importing pandas costs 1-2 s a process

__all__ = [
    "RESULT_STATUS",
    "asked_columns",
    "in_input",
    "of_input",
    "results_frame",
    "results_frame_of",
    "tool_columns",
]

RESULT_STATUS = "rowrelay_status"
"""The status column's name in the results (and so in every output)."""
_PICKED = {
    "row_index": "row_index",
    "status": RESULT_STATUS,
    "output_text": "output_text",
    "error_message": "error",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "cached_input_tokens": "cached_input_tokens",
    "cost_usd": "cost_usd",
}
"""State columns an export takes, in output order, by the name they take in the results."""
SUMMARY = "reasoning_summary"
"""The column (in the state and the results) of each row's reasoning summary, when the batch asked for
them (`--reasoning-summary`)."""
TOOL_CALLS = "tool_calls"
"""The column of each row's billed server-side tool calls, when the batch offered tools (`--tools`), or
its rows made some (an agent's own web search: `tool_columns`)."""
CITATIONS = "citations"
"""The column of the sources each row's answer cites (`rowrelay.tasks.citations`), when the batch
offered tools: a list of structs in the results, JSON text in the state."""
CITATION_LIST = pa.list_(pa.struct([pa.field(name, pa.string()) for name in CITATION_FIELDS]))
ANSWER_LOGPROB = "answer_logprob"
"""The column of each answer's log probability (the sum of its tokens'), when the batch asked for token
log probabilities (`--logprobs`): exp() of it is a classification row's confidence."""
TOKEN_LOGPROBS = "token_logprobs"
"""The column of each answer's tokens with their log probabilities and likeliest alternatives, when the
batch asked for them: a list of structs in the results, JSON text (`logprobs`) in the state."""
_ALTERNATIVE = pa.struct([pa.field("token", pa.string()), pa.field("logprob", pa.float64())])
TOKEN_LIST = pa.list_(pa.struct([*_ALTERNATIVE, pa.field("top_logprobs", pa.list_(_ALTERNATIVE))]))
_STORED_AS = {ANSWER_LOGPROB: "logprobs", TOKEN_LOGPROBS: "logprobs"}
"""Result columns derived from a state column of another name."""


class Asks(Protocol):
    """What a run asked that adds result columns: its settings, or the batch's `run.json` record."""

    @property
    def reasoning_summary(self) -> str | None: ...
    @property
    def tools(self) -> object: ...
    @property
    def logprobs(self) -> int | None: ...


def asked_columns(asks: Asks) -> tuple[str, ...]:
    """The result columns an output has only when its batch asked for them (reasoning summaries; tool
    calls and citations; token log probabilities), after the others: every other batch's output keeps
    its shape."""
    columns: tuple[str, ...] = (SUMMARY,) if asks.reasoning_summary is not None else ()
    columns += tool_columns() if asks.tools is not None else ()
    return columns + ((ANSWER_LOGPROB, TOKEN_LOGPROBS) if asks.logprobs is not None else ())


def tool_columns() -> tuple[str, ...]:
    """The result columns of server-side tools: each row's billed calls and the sources it cites. A
    batch has them when it offered tools (`--tools`), and when its rows made such calls without
    rowrelay offering any: an agent's own hosted tools (`--agent`), which the settings do not hold, but
    whose calls are billed and whose answers cite what they found all the same."""
    return (TOOL_CALLS, CITATIONS)


def _with_tools_made(state: pd.DataFrame, asked: Sequence[str]) -> Sequence[str]:
    """`asked`, and the tool columns in their place when rows made billed tool calls unasked."""
    if TOOL_CALLS in asked or TOOL_CALLS not in state or not state[TOOL_CALLS].notna().any():
        return asked
    at = 1 if SUMMARY in asked else 0  # where `asked_columns` puts them
    return (*asked[:at], *tool_columns(), *asked[at:])


def results_frame(
    state: pd.DataFrame, keys: pa.Array[Any] | Sequence[str], asked: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per state row whose key is in `keys` (the input's, in input order): its position there
    as row_index, status, output text, error and tokens (no I/O), then the `asked` columns
    (`asked_columns`; the tool columns too when rows made tool calls, `tool_columns`)."""
    asked = _with_tools_made(state, asked)
    position = input_positions(pa.array(state["row_key"], type=pa.string()), _as_keys(keys))
    held = position.is_valid().to_numpy(zero_copy_only=False)
    stored = list(dict.fromkeys(_STORED_AS.get(name, name) for name in asked))
    picked = state.loc[held, [*_PICKED, *stored]].rename(columns=_PICKED)
    picked["row_index"] = position.drop_null().to_numpy(zero_copy_only=False).astype("int64")
    if CITATIONS in asked:
        picked[CITATIONS] = _citation_lists(picked[CITATIONS], picked[RESULT_STATUS])
    if TOKEN_LOGPROBS in asked:
        picked[ANSWER_LOGPROB], picked[TOKEN_LOGPROBS] = _logprob_columns(picked.pop("logprobs"))
    return picked.assign(error=picked["error"].where(picked[RESULT_STATUS] != "completed"))


def _citation_lists(texts: pd.Series, statuses: pd.Series) -> pd.Series:
    """The state's JSON text as lists of citations (an Arrow-backed column, which every output format
    writes as nested data). A completed answer that cites nothing gets an empty list: it is known to
    cite nothing, where a row with no answer has no citations to know."""
    lists = [
        citations_from_text(text) if isinstance(text, str) else [] if status == "completed" else None
        for text, status in zip(texts, statuses, strict=True)
    ]
    return _arrow_column(lists, CITATION_LIST, texts.index)


def _logprob_columns(texts: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The state's JSON text as each answer's log probability and its tokens (null for a row with none:
    no answer, or an answer given without them)."""
    import pandas as pd

    tokens = [logprobs_from_text(text) if isinstance(text, str) else None for text in texts]
    sums = [None if row is None else answer_logprob(token["logprob"] for token in row) for row in tokens]
    return pd.Series(sums, index=texts.index, dtype="float64"), _arrow_column(tokens, TOKEN_LIST, texts.index)


def _arrow_column(values: list[Any], kind: pa.DataType, index: pd.Index) -> pd.Series:
    """`values` as an Arrow-backed column of type `kind`, which every output format writes as nested data
    (Parquet natively, JSONL as arrays, CSV as JSON text)."""
    import pandas as pd

    return pd.Series(pa.array(values, kind), index=index, dtype=pd.ArrowDtype(kind))


def in_input(row_keys: pa.Array[Any] | pa.ChunkedArray[Any], keys: pa.Array[Any]) -> pa.Array[Any]:
    """Per row key, whether the input (`keys`, its row keys) holds it: what a run sends and reports on
    is its input's rows, not rows an earlier input left in the state."""
    return pc.is_in(row_keys, value_set=_as_keys(keys))


def of_input(latest: pa.Table, keys: pa.Array[Any]) -> pa.Table:
    """The rows of `latest` (a table's latest state, as Arrow) that the input holds (`in_input`): what a
    run reports on, so its counts and threshold cover its input."""
    held = in_input(latest.column("row_key"), keys)
    return latest if pc.all(held).as_py() is not False else latest.filter(held)


def changed_inputs(stored: pa.Table, planned: pa.Table) -> list[str]:
    """Keys whose input changed: `planned` (the input's `row_key`, `input_hash`) against `stored` (the
    state's), in input order. A key the state does not hold is new, not changed."""
    at = pc.index_in(planned.column("row_key"), value_set=stored.column("row_key").combine_chunks())
    was: Any = stored.column("input_hash").combine_chunks().take(at)
    unequal: Any = pc.not_equal(was, planned.column("input_hash"))
    differ: Any = pc.fill_null(unequal, False)
    return [str(key) for key in planned.column("row_key").filter(differ).to_pylist()]


def _as_keys(keys: pa.Array[Any] | Sequence[str]) -> pa.Array[Any]:
    return pc.cast(keys if isinstance(keys, pa.Array) else pa.array(list(keys)), pa.string())


def results_frame_of(
    directory: Path, keys: pa.Array[Any] | Sequence[str], asked: Sequence[str] = ()
) -> pd.DataFrame:
    """`results_frame` of the batch in `directory`, read as `load` reads it (latest version of each row)."""
    return results_frame(load(directory), keys, asked)
