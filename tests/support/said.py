"""The warnings a logger gave, kept by a handler of its own: Prefect's logging setup (dictConfig, on its
first import) drops pytest's caplog handler from the root logger, so caplog would see nothing."""

from __future__ import annotations

import logging


class Said(logging.Handler):
    """Each record's message at `level` (WARNING) and above, in order; add it to the logger to watch."""

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
