"""Validate a batch and give each row a stable key and an input hash, before anything is sent.

Keys: with an id column, the id as text (ids must be present and unique). Without one, ``"h"`` plus the
first 16 hex digits of the row's input hash; rows with identical input are told apart by their
occurrence number (``h…``, ``h…-2``, ``h…-3``), so keys stay unique and the same on every rerun.
Identical rows are interchangeable, so which copy gets which suffix does not matter.

Prompts are not kept: they are rendered a chunk at a time to be hashed (see `prompts`), and again, one
row at a time, when a row is sent. Keys and hashes are Arrow columns, so a million rows prepare in a few
seconds without a Python object per row.

    >>> prepared = prepare(read_input("data/sample/tickets.csv"),
    ...                    InputSpec(template="Subject: {subject}\\n\\n{body}", id_column="ticket_id"))
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rowrelay.tasks.dataset.media import RowMedia
from rowrelay.tasks.dataset.prompts import Prompts
from rowrelay.tasks.dataset.reading import read_input
from rowrelay.tasks.dataset.readings import ARROW_NESTED_AS_JSON, BOOLS_AS_JSON, READING, SHOWN_AS_DATA
from rowrelay.tasks.dataset.spec import InputSpec, PreparedInput, PreparedRow
from rowrelay.tasks.dataset.templates import bytes_shown, column_text
from rowrelay.tasks.errors import UsageError

__all__ = ["input_fingerprint", "prepare", "read_prepared"]

_SHOWN = 5
"""How many offending values an error message lists."""
_FINGERPRINT_CHUNK = 65_536


def _missing_column(kind: str, name: str, frame: pd.DataFrame) -> UsageError:
    available = ", ".join(map(str, frame.columns))
    return UsageError(f"{kind} {name!r} is not in the input (available: {available})")


def _hashes_and_blanks(
    prompts: Prompts, instructions: str | None, media: tuple[RowMedia, ...]
) -> tuple[pa.Array[Any], list[int]]:
    """blake2b-128 of (length-prefixed instructions, prompt, images and files if any) per row, and the
    positions of blank rows (a blank prompt and no attachment: nothing to ask).

    Prompts are rendered a chunk at a time and dropped once hashed: never all of them at once.
    """
    head = (instructions or "").encode("utf-8", "surrogatepass")
    base = hashlib.blake2b(digest_size=16, person=b"rowrelay-input")
    base.update(len(head).to_bytes(8, "big") + head)
    chunks: list[pa.Array[Any]] = []
    blank: list[int] = []
    offset = 0
    nothing_attached = np.logical_and.reduce([column.none for column in media]) if media else None
    for chunk in prompts.chunks():
        hashes: list[str] = []
        append = hashes.append
        for prompt in chunk:
            hasher = base.copy()
            hasher.update(prompt.encode("utf-8", "surrogatepass"))
            append(hasher.hexdigest())
        for column in media:  # another pass over the chunk: text-only batches pay nothing for it
            person = b"rowrelay-" + column.kind.encode()
            for i, part in enumerate(column.hash_parts(offset, offset + len(chunk))):
                if part:
                    hasher = hashlib.blake2b(bytes.fromhex(hashes[i]), digest_size=16, person=person)
                    hasher.update(part)
                    hashes[i] = hasher.hexdigest()
        blank.extend(
            offset + i
            for i, prompt in enumerate(chunk)
            if not prompt.strip() and (nothing_attached is None or nothing_attached[offset + i])
        )
        chunks.append(pa.array(hashes, pa.string()))
        offset += len(chunk)
    return pa.concat_arrays(chunks), blank


def _id_keys(frame: pd.DataFrame, id_column: str, reading: int) -> pa.Array[Any]:
    """The id column as keys (as `reading` reads them); refuses null, blank or duplicated ids, showing
    the first few."""
    if id_column not in frame.columns:
        raise _missing_column("id column", id_column, frame)
    ids = frame[id_column].reset_index(drop=True)
    if reading >= SHOWN_AS_DATA:
        ids = bytes_shown(ids)
    text = column_text(ids, reading >= ARROW_NESTED_AS_JSON, reading >= BOOLS_AS_JSON)
    if reading >= SHOWN_AS_DATA:
        text = _whole_numbers_as_integers(ids, text)
    stripped = text.str.strip()
    empty = np.flatnonzero(stripped.eq("").to_numpy())
    if len(empty):
        # Counted as a user counts them, as the reader's own refusals do ("line 3", "row 2"): the
        # positions said "row 1 (0-based)" for a CSV file's second row, its third line.
        shown = ", ".join(str(position + 1) for position in empty[:_SHOWN])
        raise UsageError(
            f"id column {id_column!r} has {len(empty)} null or empty value(s), at row(s) {shown}"
            + (" …" if len(empty) > _SHOWN else "")
            + " (the first row is 1, a header not counted): every row needs an id"
        )
    _refuse_duplicates(text, stripped, id_column)
    return pa.array(text, pa.string())


def _refuse_duplicates(text: pd.Series, stripped: pd.Series, id_column: str) -> None:
    """Refuse ids that repeat, spaces around them aside: `" 001"` and `"001"` were two rows of one
    input, where the check of ids written otherwise (`tasks/run`) takes them for one id, and `1` and
    `1.0` are refused as one. The keys keep the ids as written: a batch's keys do not change."""
    repeated = stripped.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return
    written: dict[str, list[str]] = {}  # each repeated id, the ways it is written, in input order
    for id_, form in zip(stripped[repeated].tolist(), text[repeated].tolist(), strict=True):
        written.setdefault(id_, []).append(form)
    ranked = sorted(written.items(), key=lambda item: -len(item[1]))  # stable: ties in input order
    forms = {id_: list(dict.fromkeys(each)) for id_, each in ranked}
    shown = ", ".join(
        f"{forms[id_][0]!r} ×{len(each)}"
        if len(forms[id_]) == 1
        else f"{id_!r} ×{len(each)} (as {', '.join(map(repr, forms[id_]))})"
        for id_, each in ranked[:_SHOWN]
    )
    unique = " (ids must be unique)"
    if any(len(each) > 1 for each in forms.values()):
        unique = " (ids must be unique; spaces around one do not make it another)"
    raise UsageError(
        f"id column {id_column!r} has {len(ranked)} duplicated value(s): {shown}"
        + (" …" if len(ranked) > _SHOWN else "")
        + unique
    )


def _whole_numbers_as_integers(ids: pd.Series, text: pd.Series) -> pd.Series:
    """`text` (the ids' keys) with each id that is a float without a fraction keyed as that integer: a
    JSON id column holding one `1.5` made pandas read every id as a float, so `2` was keyed "2.0", and
    ids `"1"` and `1.0` were two keys. Any other id keeps its text (`1.5`)."""
    if not (pd.api.types.is_float_dtype(ids.dtype) or ids.dtype == object):
        return text
    values = ids.astype(object).tolist()
    whole = [i for i, value in enumerate(values) if isinstance(value, float) and value.is_integer()]
    if not whole:
        return text
    text = text.copy()
    text.iloc[whole] = [str(int(values[i])) for i in whole]
    return text


def _hash_keys(hashes: pa.Array[Any]) -> pa.Array[Any]:
    """``"h"`` + 16 hex of the input hash; a repeated input gets ``-2``, ``-3``… by occurrence."""
    short = pc.call_function("binary_join_element_wise", ["h", pc.utf8_slice_codeunits(hashes, 0, 16), ""])
    series = pd.Series(short.to_pandas(), dtype="str")
    if series.duplicated().any():
        occurrence = series.groupby(series, sort=False).cumcount().to_numpy()
        keys: list[str] = series.tolist()
        for i in np.flatnonzero(occurrence):
            keys[i] = f"{keys[i]}-{occurrence[i] + 1}"
        return pa.array(keys, pa.string())
    return pa.array(series, pa.string())


def _chunks(array: pa.Array[Any]) -> Iterable[pa.Array[Any]]:
    for start in range(0, len(array), _FINGERPRINT_CHUNK):
        yield array.slice(start, _FINGERPRINT_CHUNK)


def _fingerprint(keys: pa.Array[Any], hashes: pa.Array[Any], spec: InputSpec) -> str:
    described: dict[str, object] = {
        "version": 1,
        "template": spec.template,
        "prompt_column": spec.prompt_column,
        "id_column": spec.id_column,
        "instructions": spec.instructions,
    }
    for kind, column in spec.attached:  # absent otherwise: text-only batches keep their fingerprints
        described[f"{kind}_column"] = column
    hasher = hashlib.blake2b(digest_size=16, person=b"rowrelay-batch")
    hasher.update(orjson.dumps(described, option=orjson.OPT_SORT_KEYS))
    # A JSON array of keys and a run of fixed-length hashes: no two different row lists encode alike.
    # Fed a chunk at a time, byte for byte what `orjson.dumps(all_keys)` and `"".join(hashes)` would be.
    hasher.update(b"[")
    for number, chunk in enumerate(_chunks(keys)):
        hasher.update((b"," if number else b"") + orjson.dumps(chunk.to_pylist())[1:-1])
    hasher.update(b"]")
    for chunk in _chunks(hashes):
        hasher.update("".join(chunk.to_pylist()).encode())  # type: ignore[arg-type]
    return hasher.hexdigest()


def input_fingerprint(rows: Sequence[PreparedRow], spec: InputSpec) -> str:
    """The batch's identity: a hash of the spec and every row's key and input hash, in order.

    It depends on what would be sent and under which keys, not on the file format or on columns the
    prompts do not use, so the same data read from CSV or Parquet has the same fingerprint.
    """
    keys = pa.array([r.row_key for r in rows], pa.string())
    return _fingerprint(keys, pa.array([r.input_hash for r in rows], pa.string()), spec)


def prepare(
    frame: pd.DataFrame, spec: InputSpec, folder: Path | None = None, reading: int = READING
) -> PreparedInput:
    """Validate `frame` against `spec` and prepare every row; raises `UsageError` before anything is sent.

    Refused as a whole: an empty input, a template naming absent columns, an unknown prompt, id, image or
    file column, null/empty or duplicated ids. A row whose prompt renders blank (with nothing attached),
    or that names an image or file it cannot send, is not an error of the batch: it is listed in
    `PreparedInput.bad_rows` and fails alone. `folder` is where relative paths of attachments are found:
    the input file's (default: here). `reading` says how values are shown and ids keyed (`readings`).
    """
    if len(frame) == 0:
        raise UsageError("the input has no rows: nothing to send")
    try:
        prompts = Prompts.build(frame, spec, reading)
        # Ids are checked before the hashing pass, so a bad id column is refused fast.
        id_keys = _id_keys(frame, spec.id_column, reading) if spec.id_column is not None else None
    except UnicodeEncodeError as exc:  # only a DataFrame built in memory can hold such text
        raise UsageError(f"the input holds text that is not valid Unicode: {exc}") from exc
    media = _media(frame, spec, folder or Path.cwd())
    hashes, blank = _hashes_and_blanks(prompts, spec.instructions, media)
    keys = id_keys if id_keys is not None else _hash_keys(hashes)
    reason = _blank_reason(spec)
    bad_rows = {keys[i].as_py(): reason for i in blank}
    for column in reversed(media):  # a row with a bad image and a bad file: the image's reason is said
        bad_rows.update({keys[i].as_py(): why for i, why in column.problems.items() if i not in blank})
    unsent = sorted({*blank, *(i for column in media for i in column.problems)})
    gaps = _gaps(prompts, keys, unsent) if spec.template is not None else {}
    for column in media:
        if len(missing := np.flatnonzero(column.none)):
            gaps[column.column] = keys.take(np.setdiff1d(missing, unsent))  # sent without it
    return PreparedInput(
        frame=frame,
        keys=keys,
        hashes=hashes,
        prompts=prompts,
        fingerprint=_fingerprint(keys, hashes, spec),
        bad_rows=bad_rows,
        instructions=spec.instructions,
        gaps={name: rows for name, rows in gaps.items() if len(rows)},
        media=media,
    )


def _media(frame: pd.DataFrame, spec: InputSpec, folder: Path) -> tuple[RowMedia, ...]:
    for kind, column in spec.attached:
        if column not in frame.columns:
            raise _missing_column(f"{kind} column", column, frame)
    return tuple(RowMedia.build(kind, frame[column], column, folder) for kind, column in spec.attached)


def read_prepared(
    source: str | Path | pd.DataFrame, spec: InputSpec, reading: int = READING
) -> PreparedInput:
    """`source` read as `reading` says (`read_input`) and prepared, the reading kept with it; relative
    paths of attachments are the input file's folder's."""
    folder = None if isinstance(source, pd.DataFrame) else Path(source).resolve().parent
    return dataclasses.replace(prepare(read_input(source, reading), spec, folder, reading), reading=reading)


def _gaps(prompts: Prompts, keys: pa.Array[Any], unsent: list[int]) -> dict[str, pa.Array[Any]]:
    """Per column, the keys of the rows sent with it empty (not the bad ones, which are not sent)."""
    sent = np.ones(len(keys), dtype=bool)
    sent[unsent] = False
    gaps: dict[str, pa.Array[Any]] = {}
    for name, empty in prompts.empty().items():
        rows = np.flatnonzero(empty & sent)
        if len(rows):
            gaps[name] = keys.take(rows)
    return gaps


def _blank_reason(spec: InputSpec) -> str:
    if spec.template is not None:
        names = list(dict.fromkeys(name for _, name in spec.parts() if name is not None))
        columns = f"column {names[0]} is" if len(names) == 1 else f"columns {', '.join(names)} are"
        return f"empty prompt: the template rendered blank ({columns} empty, blank or missing)"
    return f"empty prompt: prompt column {spec.prompt_column!r} is empty, blank or missing"
