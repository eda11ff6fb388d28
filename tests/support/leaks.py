"""Looking for a secret where it must not be: in files (compressed or base64-encoded ones too) and in
every log record a process emits."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq


def files_holding(root: Path, text: str) -> list[str]:
    """Files under `root` that hold `text`: in their bytes, in any base64 inside them (Prefect stores
    a failed run's exception, pickled, as base64), and for Parquet files in their decoded rows and
    metadata (the state table's files are compressed, so their bytes would hide it)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        readable = (data + b"".join(_base64_decoded(data))).decode("utf-8", errors="replace")
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            readable += str(table.schema.metadata) + json.dumps(table.to_pylist(), default=str)
        if text in readable:
            found.append(str(path.relative_to(root)))
    return found


_BASE64 = re.compile(rb"[A-Za-z0-9+/]{16,}")


def _base64_decoded(data: bytes) -> list[bytes]:
    """Every run of base64 characters in `data` (line breaks removed) decoded, from each of the four
    alignments it may start at: garbage for text that is not base64, the payload for text that is."""
    decoded = []
    for run in _BASE64.findall(data.replace(b"\n", b"")):
        for start in range(4):
            usable = run[start : start + (len(run) - start) // 4 * 4]
            with contextlib.suppress(binascii.Error):
                decoded.append(base64.b64decode(usable))
    return decoded


class _Keep(logging.Handler):
    def __init__(self, kept: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.kept = kept
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append(self.format(record))  # with its traceback, if it has one


@contextlib.contextmanager
def every_log_record() -> Iterator[list[str]]:
    """Every record logged in this process while the block runs, from DEBUG up, tracebacks included.

    Not pytest's caplog: Prefect configures logging when first imported (dictConfig), which replaces the
    root logger's handlers, caplog's among them, and then its check would pass on nothing. Call this
    once Prefect is imported. Prefect's loggers stop at INFO: they are opened to DEBUG for the block."""
    kept: list[str] = []
    handler = _Keep(kept)
    root = logging.getLogger()
    loggers = [root, logging.getLogger("prefect")]
    levels = [logger.level for logger in loggers]
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield kept
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
