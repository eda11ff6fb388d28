"""A batch resumed on another server than its last run's, said at the run's start, once.

A row holding a response id ties the batch to the server that made it, and a run on another is refused
before anything starts (`same_server.check_same_server`). A row holding none (every `--backend chat`
row: Chat Completions has no background mode, so a row completes inside its create and keeps no id; a
pending or failed row of any backend) ties it to nothing: the run goes ahead on the new server, and its
answers sit beside the earlier server's in the output, nothing telling them apart. A trial's chat batch
resumed against another vLLM server (another base URL) finished there in silence. Now the run says what
the earlier run used and what this one uses, from `run.json`, before it sends anything. It goes on:
moving a batch to another replica of the same model is a fair thing to do, and the user is told.

Runs over several endpoints are not compared here: each row names the endpoint that made it. Nor is a
batch no earlier server answered a row of (its first run refused, say, by a wrong key): no answer of
another server is there for this run's to sit beside, and saying so sent the user looking for them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rowrelay.flows.same_server import described, server_of_record, state_rows
from rowrelay.tasks.setting_problems import one_of, option_of
from rowrelay.tasks.state import RunRecord

__all__ = ["say_if_moved"]

log = logging.getLogger("rowrelay.resume")


def say_if_moved(earlier: RunRecord | None, now: RunRecord, state_dir: Path) -> None:
    """Warn, once, when this run (`now`, its record) uses another server than the batch's earlier run
    (`earlier`, its record; None: the batch's first run, or a record that could not be read), and that
    server answered some row of the batch at `state_dir`."""
    if earlier is None or earlier.endpoints or now.endpoints:
        return
    was, goes = server_of_record(earlier), server_of_record(now)
    if was == goes or not _answered(state_dir):
        return
    log.warning(
        "this batch's earlier run used %s; this run uses %s: the rows it sends are answered there, beside "
        "the earlier server's answers, and the output does not tell them apart (a row holding no response "
        "id, as every %s row, is tied to no server). To keep one server's answers, run it on the "
        "earlier one, or give it a state of its own (%s)",
        described(was),
        described(goes),
        one_of("backend", ("chat",)),
        option_of("state"),
    )


def _answered(state_dir: Path) -> bool:
    """Whether a row of the batch holds an answer: completed, or failed on what its answer said (a refusal,
    a broken schema), whose text is kept. Read from disk only when the server moved."""
    rows = state_rows(state_dir)
    completed = "completed" in rows.column("status").unique().to_pylist()
    return completed or rows.column("output_text").null_count < len(rows)
