"""rowrelay's durable state table: one Parquet-backed row per input row, checkpointed before every wait.

Each row's status and continuation token (response id) are made durable *before* the pipeline waits on
them, so nothing submitted is paid twice and a crashed batch resumes where it stopped.

    from rowrelay.tasks.state import StateTable

    with StateTable.open(Path("data/state/b1"), batch_id="b1", writer="shard-0") as table:
        table.add_pending([("row-0", 0, "sha256:...")])
        table.transition("row-0", "submitting")      # write-ahead: durable before the create is sent
        await table.commit()
        table.transition("row-0", "queued", response_id="resp_123")
        await table.commit()

Layout and guarantees (details in each module's docstring):

* `schema`: a fixed Arrow schema (types kept when all null), its version in the Parquet metadata, and
  stepwise `migrations`.
* `transitions`: the explicit, pure table of allowed status moves; `IllegalTransition` otherwise.
* `segments`, `files`, `checkpoint`: a checkpoint writes only the rows changed since the last one, as an
  append-only segment `segments/<writer>-<version>.parquet` (through `rowrelay.tasks.durable`: temp file,
  fsync, rename, fsync of the directory), so its cost grows with the change, not with the table.
  `version` is strictly increasing per writer and starts above every version in the directory, so the
  latest version of a row is max(version). Checkpoints never overlap, and a failed one's rows go into the
  next.
* `commit`: group commit. `await table.commit()` returns once the caller's changes are durable; concurrent
  callers share one write, at most every `checkpoint_interval` s, or at once at `checkpoint_rows` changes.
* `compaction`: each writer folds only its *own* files into `snapshots/<writer>-<version>.parquet` (when
  it has > 64 segments, and at close when its segments hold more than 5% of its snapshot's rows or it
  has none: `worth_compacting`), writing the snapshot before deleting what it covers; writers on disjoint
  shards therefore run side by side without ever deleting each other's segments.
* `lease`: one runner per (batch, writer); a second one gets `LeaseHeldError` naming the holder; a stale
  lease (dead pid on this host, or heartbeat older than `lease_timeout`) is taken over and reported.
* `orphans`: a `submitting` row found on reload becomes `queued` (its id was durable) or `orphaned`
  (spending an attempt and counting a possible duplicate: its create may have started a job).
* `run_record`: `run.json`, what the last run was asked to do (input, spec, output, backend, model; never
  a key), so `export` and `cancel` can act from the directory alone. `batch.json` marks a state directory
  (`is_state_directory`; `state_directory_problem` says why a folder cannot hold one); a damaged or lost
  one is written again by `rowrelay repair` (`batch.rebuilt_batch`): no row's state is in it.
* `results`: the per-row outcome an export joins onto the input (`results_frame`).
* A torn or foreign file raises `CorruptSegmentError` naming it, in `StateTable.open` and in the readers
  alike: nothing reads a silently partial table. Skipping is explicit (`on_corrupt="skip"`, listed in
  `table.problems`; `load(..., skip_damaged=True)`, listed in `.attrs["problems"]`). `damage` finds
  damaged files and moves them aside into `damaged/`; `repair` works out what each row falls back to.
* `versions`: a file deleted or lost leaves versions no file holds; opening or reading such a table
  raises `MissingVersionsError` naming them (skipped as a damaged file is, when asked), and `rowrelay
  repair` records the loss as accepted.

Reading mid-run, from any process and without the lease: `load(dir)` (a DataFrame, latest version of each
row, by row_index) and `summary(dir)`. Raw DuckDB works too, but sees *every* version of every row:

    duckdb.sql("select status, count(*) from read_parquet('DIR/**/*.parquet') group by all")  # all versions
    duckdb.sql(f"select status, count(*) from ({latest_sql(DIR)}) group by all")             # latest only
"""

from rowrelay.tasks.errors import (
    CorruptSegmentError,
    DamagedFileError,
    IllegalTransition,
    LeaseHeldError,
    MissingVersionsError,
    StateError,
)
from rowrelay.tasks.state.allocator import prefer_system_allocator
from rowrelay.tasks.state.batch import is_state_directory, state_directory_problem
from rowrelay.tasks.state.files import BATCH_FILE, RUN_FILE
from rowrelay.tasks.state.orphans import orphan_note
from rowrelay.tasks.state.reader import latest_sql, load, read_table, summarize, summary
from rowrelay.tasks.state.results import RESULT_STATUS, of_input, results_frame, results_frame_of
from rowrelay.tasks.state.run_record import RunRecord, read_run_record, write_run_record
from rowrelay.tasks.state.schema import SCHEMA, SCHEMA_VERSION, RowState
from rowrelay.tasks.state.segments import check_state_files
from rowrelay.tasks.state.table import COMPACT_SEGMENTS, OrphanPolicy, StateTable, TableOptions
from rowrelay.tasks.state.transitions import TRANSITIONS, check_transition, is_allowed

prefer_system_allocator()  # before any table is read; each buffer is freed to the pool it came from

__all__ = [
    "BATCH_FILE",
    "COMPACT_SEGMENTS",
    "RESULT_STATUS",
    "RUN_FILE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "CorruptSegmentError",
    "DamagedFileError",
    "IllegalTransition",
    "LeaseHeldError",
    "MissingVersionsError",
    "OrphanPolicy",
    "RowState",
    "RunRecord",
    "StateError",
    "StateTable",
    "TableOptions",
    "check_state_files",
    "check_transition",
    "is_allowed",
    "is_state_directory",
    "latest_sql",
    "load",
    "of_input",
    "orphan_note",
    "read_run_record",
    "read_table",
    "results_frame",
    "results_frame_of",
    "state_directory_problem",
    "summarize",
    "summary",
    "write_run_record",
]
