"""Each row's images (`--image-column`) and files (`--file-column`): what a cell may name, checked when
the batch is planned.

A cell names nothing (empty), one, or several (a JSON array of them in text, or a Parquet/JSON list).
Each is one of:
- an `http(s)://` URL, which the server downloads;
- an uploaded file's id (`file-...`, the Files API's);
- a local file, relative to the input file's folder (or absolute), sent inline as a data URL read when
  the row is sent: for an image, a PNG, JPEG, GIF or WebP file; for a file, any (the server reads its
  type from its name: PDFs, documents, spreadsheets, text);
- for an image, also a `data:image/...;base64,` URL, sent as it is (a file sent inline needs a name), or
  its bytes in the input itself: a Parquet binary column, or the `{"bytes": ..., "path": ...}` struct
  Hugging Face datasets write, sent inline as a local file is (a struct without bytes is its path).

A row's attachments go into its input hash as written, so a batch resumed with others is refused as a
changed input, and moving the input and its folder together changes nothing. A file replaced at the same
path is not noticed, as a page replaced at the same URL would not be.

A row naming one it cannot send (no such file, another format, another kind of URL) fails alone, unsent,
with the reason (`PreparedInput.bad_rows`). Sizes and counts are the server's to judge: its limits have
changed over time, and a row it refuses fails alone as `rejected`, unpaid.
"""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from rowrelay.tasks.media_refs import IMAGE_FORMATS, IMAGE_TYPES, Attachment, MediaKind, image_type, ref_kind

__all__ = ["RowMedia"]

_DATA_IMAGE = re.compile(
    "data:(" + "|".join(map(re.escape, sorted(set(IMAGE_TYPES.values())))) + ");base64,", re.IGNORECASE
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_HELD = "(image bytes in the input)"
"""What an attachment held as bytes in the input is called where a reference would be shown."""


def _cell_refs(value: Any) -> list[str | bytes]:
    """The references a cell holds, in order: none for a missing or blank cell. Bytes are an image held
    in the input (a Parquet binary column); a dataset's image struct, `{"bytes": ..., "path": ...}` (as
    Hugging Face datasets write them), is its bytes, or its path when it has none."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return []
    if isinstance(value, bytes | bytearray | memoryview):
        return [bytes(value)] if len(value) else []
    if isinstance(value, dict):
        held = value.get("bytes")
        return _cell_refs(held if held is not None else value.get("path") or value.get("url"))
    if isinstance(value, list | tuple | np.ndarray):
        return [ref for item in value for ref in _cell_refs(item)]
    text = str(value).strip()
    if text.startswith("["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [text]  # not JSON: a path that starts with a bracket, checked as one
        if isinstance(items, list):
            return [text for item in items if (text := str(item).strip())]
    return [text] if text else []


def _resolved(ref: str, kind: MediaKind, folder: Path) -> tuple[str, str | None]:
    """(the reference as sent: a local path made absolute; why it cannot be sent, or None)."""
    how = ref_kind(ref)
    if how == "url":
        if not ref.startswith("data:"):
            return ref, None
        if kind == "file":
            return ref, "a data URL names no file: give the file's path, URL or uploaded id"
        if not _DATA_IMAGE.match(ref):
            return ref, f"a data URL that is not a base64 {IMAGE_FORMATS} image"
        return ref, None
    if how == "file_id":
        return ref, None
    if _SCHEME.match(ref) and not Path(ref).drive:  # s3://, ftp://, file://...: nothing the API fetches
        return ref, "not an http(s) URL, a data URL, an uploaded file id (file-...) or a local file"
    path = Path(ref).expanduser()
    path = path if path.is_absolute() else folder / path
    if kind == "image" and path.suffix.lower() not in IMAGE_TYPES:
        return str(path), f"not a {IMAGE_FORMATS} file (by its name)"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return str(path), f"cannot be read ({exc.strerror or exc}: {path})"
    if not stat.S_ISREG(mode):
        return str(path), f"not a file ({path})"
    return str(path), None


def _held(data: bytes, kind: MediaKind) -> tuple[str, str | None]:
    """("" standing for the bytes; why they cannot be sent, or None)."""
    if kind == "file":
        return "", "bytes name no file: give the file's path, URL or uploaded id"
    if image_type(data) is None:
        return "", f"bytes that are not a {IMAGE_FORMATS} image"
    return "", None


def _digest(data: bytes) -> str:
    return "bytes:" + hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class RowMedia:
    """One column's attachments, every row's: as written (for the input hash) and as sent (local paths
    made absolute)."""

    kind: MediaKind
    column: str
    written: list[list[str]]
    """Each row's references as given (bytes as `bytes:` and their digest): what its input hash covers."""
    sent: pa.Array[Any]
    """Each row's references as sent (local paths made absolute; "" where the input holds the bytes)."""
    problems: dict[int, str]
    """Row position -> why its attachments cannot be sent (the row fails alone, unsent)."""
    held: dict[int, list[bytes]]
    """Row position -> the bytes its "" references stand for, in order (the input's own objects)."""

    @classmethod
    def build(cls, kind: MediaKind, series: pd.Series, column: str, folder: Path) -> RowMedia:
        written: list[list[str]] = []
        sent: list[list[str]] = []
        problems: dict[int, str] = {}
        held: dict[int, list[bytes]] = {}
        for position, refs in enumerate(map(_cell_refs, series.tolist())):
            resolved = [
                _resolved(ref, kind, folder) if isinstance(ref, str) else _held(ref, kind) for ref in refs
            ]
            if data := [ref for ref in refs if isinstance(ref, bytes)]:
                held[position] = data
            written.append([ref if isinstance(ref, str) else _digest(ref) for ref in refs])
            sent.append([ref for ref, _ in resolved])
            bad = next(((ref, why) for ref, (_, why) in zip(written[-1], resolved, strict=True) if why), None)
            if bad is not None:
                problems[position] = f"{kind} {bad[0][:200]!r} in column {column!r}: {bad[1]}"
        return cls(kind, column, written, pa.array(sent, pa.list_(pa.string())), problems, held)

    @cached_property
    def none(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Per row, whether it names nothing (asked for blanks and for gaps: made once)."""
        return np.array([not refs for refs in self.written], dtype=bool)

    def hash_parts(self, start: int, stop: int) -> Iterator[bytes]:
        """Rows `start`..`stop`'s attachments as hashed: empty for none (so a row without any hashes as
        a batch without the column would), else their kind and JSON list after a byte no prompt holds."""
        tag = b"\x00" + self.kind.encode() + b"s"
        for refs in self.written[start:stop]:
            yield tag + orjson.dumps(refs) if refs else b""

    def at(self, position: int) -> tuple[Attachment, ...]:
        """The attachments of the row at `position`, as sent (URLs, file ids, absolute paths, and the
        input's own bytes)."""
        refs: Sequence[str] = self.sent[position].as_py()
        data = iter(self.held.get(position, ()))
        return tuple(
            Attachment(self.kind, ref) if ref else Attachment(self.kind, _HELD, data=next(data))
            for ref in refs
        )
