"""`run.json`: what the last run of a batch was asked to do, so `export` and `cancel` can act later.

The record names where the input and output are, how prompts were built, and which backend, model and
wait mode served the rows: enough to rebuild the output or reach the server holding the in-flight
responses, from the state directory alone. It never holds a secret: keys stay in the environment, and the
record has no field that could carry one. It is written atomically and fsynced, as every state file is.
A missing record means the batch never got as far as running; a damaged one is a `DamagedFileError`
naming it (a `StateError`, as for a damaged `batch.json`), rather than silently reading as "never ran".
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from rowrelay.tasks.durable import atomic_write_bytes
from rowrelay.tasks.errors import DamagedFileError
from rowrelay.tasks.records import DEFAULT_MAX_ATTEMPTS, Policy
from rowrelay.tasks.state.files import PRICES_FILE, RUN_FILE, reading, writing

__all__ = [
    "RUN_ENDINGS",
    "RunEnding",
    "RunRecord",
    "kept_price_file",
    "max_attempts_of",
    "orphan_policy_of",
    "read_run_record",
    "write_run_record",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One run's parameters. `input` is None when the input was an in-memory DataFrame; `spec` holds the
    prompt spec's fields (template, prompt_column, id_column, instructions) by name."""

    input: str | None = None
    spec: dict[str, str | None] = field(default_factory=dict)
    output: str
    backend: str
    base_url: str | None = None
    model: str
    mode: str
    agent: str | None = None
    output_schema: dict[str, Any] | None = None
    """Structured outputs: the JSON Schema the rows were asked to follow, so `export` types its columns."""
    endpoints: list[dict[str, Any]] | None = None
    """Several endpoints (`--endpoints`): each entry as its file gave it (names, base URLs, deployments,
    limits and the NAMES of the variables holding keys, never a key), its backend and base URL resolved,
    so `cancel` reaches every row's response on the endpoint that created it."""
    azure_endpoint: str | None = None
    """The Azure resource a run on the azure backend used (`AZURE_OPENAI_ENDPOINT`): where its rows'
    response ids live, as `base_url` says for the others (absent from records of older releases)."""
    reasoning_effort: str | None = None
    """The effort a reasoning model was asked for (`--reasoning-effort`); None: none asked (and in records
    of releases before the option)."""
    temperature: float | None = None
    """The sampling temperature asked for (`--temperature`); None: none sent."""
    reasoning_summary: str | None = None
    """The reasoning summary asked for (`--reasoning-summary`), so `export` writes its column; None: none."""
    image_detail: str | None = None
    """How closely each row's images were looked at (`--image-detail`); None: none asked (`auto`)."""
    logprobs: int | None = None
    """The alternatives asked for beside each token's log probability (`--logprobs`), so `export` writes
    the columns; None: none asked."""
    tools: list[dict[str, Any]] | None = None
    """The server-side tools every create offered (`--tools`, the API's tool objects); None: none."""
    reading: int | None = None
    """How the input file was read (`tasks.dataset.reading`); None in records of releases before there
    was a choice, whose batches were planned with `FIRST_READING`."""
    max_attempts: int | None = None
    """Creates per row the run took (`--max-attempts`), so `status` counts the cancelled rows the batch's
    next run sends again by the batch's own figure (`records.cancel_sent_again`). None: a record of a
    release before it, read as the default (`records.DEFAULT_MAX_ATTEMPTS`)."""
    left_out: list[str] | None = None
    """The keys of the batch's rows this run's input did not hold (removed from it since they were
    planned), written by its plan (`tasks.state.left_out`): `status` counts them apart, so a monitor sees
    the batch finish. None: the input held every row (or the run did not get as far as its plan, or an
    older release wrote the record)."""
    streams_cut: list[str | None] | None = None
    """The endpoints (their names; null: a run's one server, without `--endpoints`) on which a run of the
    batch found streamed creates cut before their id came and sent plain creates (`run.cut_streams`): the
    batch's later runs keep it and start those endpoints on plain creates. None: none (or an older
    release wrote the record)."""
    unpriced_said: list[str] | None = None
    """What a run of the batch said has no price (`llm.prices.unpriced_head`: `endpoint 'vllm': no openai
    price known for model 'Qwen/Qwen3-8B'`), kept by the batch's later runs, which do not say it again
    (`flows.unpriced`): a self-hosted model's batch was told it at every run. None: none said (or an
    older release wrote the record)."""
    orphan_policy: Policy | None = None
    """What the run did with rows whose create lost its answer (`ROWRELAY_ORPHAN_POLICY`: `resubmit` or
    `hold`), so `status` and `cancel` say what the batch's next run does with them by the batch's own
    policy, not the shell's. None: a record of a release before it (`orphan_policy_of`)."""
    prices: dict[str, Any] | None = None
    """What the run priced its rows at where that came from the user (`--prices`, `ROWRELAY_PRICES`):
    the price file's entries for the models the batch uses, by value, in a price file's shape (the file
    may move or change), so a later run given no prices prices with them (`state.batch_policies`). None:
    the shipped prices, which a new release's replace (and, when `unrecorded` names it, an older
    release wrote the record: its runs priced as each was given)."""
    began: dict[str, Any] | None = None
    """Which run wrote the record and when (`id`, a token of that run; `at`, ISO 8601 UTC; `host`,
    `pid`): its end is recorded only on its own record (`run_end`), and a run gone without one is told
    from one still going. None: an older release wrote the record."""
    ended: dict[str, Any] | None = None
    """How the run ended (`how`: one of `RUN_ENDINGS`; `at`, ISO 8601 UTC; `why`, its own words or
    null), written once, at its end (`run_end.record_end`). None: not ended (still going, or killed),
    or, when `unrecorded` names it, an older release wrote the record."""
    state: str | None = None
    """The batch's folder as the run that wrote the record found it (absolute), so `export` tells a copy
    of the folder (a colleague's batch copied to a notebook's machine, another user's home) from the
    folder the output on record is written from. None: an older release wrote the record."""
    unrecorded: tuple[str, ...] = field(default=(), compare=False)
    """The fields a record read back does not hold (a release before them wrote it): their None means
    "not known", not "none asked". Never written."""


def max_attempts_of(record: RunRecord | None) -> int:
    """The creates per row a batch's runs take, as its last run recorded them: the default for a record
    of a release before it said, or none. What `status` reads, for its projection (`reader.summary`) and
    its words on the rows a gone run left being sent (`flows.status_holder`) alike."""
    if record is None or record.max_attempts is None:
        return DEFAULT_MAX_ATTEMPTS
    return record.max_attempts


def orphan_policy_of(record: RunRecord | None) -> Policy | None:
    """The orphan policy the batch's last run took, as it recorded it; None when its record does not say
    (a release before it, or no record): the caller's own environment's then decides."""
    return None if record is None else record.orphan_policy


RunEnding = Literal["completed", "failed", "capped", "stopped", "outage", "error"]
"""How a run ends, as its record says (`ended.how`): every row taken to its end (some perhaps not
completed), `Failed` past `--fail-when-failed`, stopped by the cost cap, by Ctrl-C / SIGTERM / a cancel,
by an outage, or by another error. A run killed outright records nothing: `run_end.last_run` tells it."""
RUN_ENDINGS: tuple[RunEnding, ...] = get_args(RunEnding)

_REQUIRED = ("output", "backend", "model", "mode")
"""Fields every record has; the others may be null (and may be absent from records of older releases)."""


def write_run_record(directory: Path, record: RunRecord) -> Path:
    """Record `record` as `directory/run.json`, replacing any earlier one atomically; returns its path."""
    path = directory / RUN_FILE
    with writing(path):
        fields = dataclasses.asdict(record)
        del fields["unrecorded"]
        atomic_write_bytes(path, json.dumps(fields, indent=2).encode())
    return path


def kept_price_file(directory: Path, record: RunRecord) -> Path:
    """`record.prices` written as a price file in the batch's folder: what a run of the batch given no
    prices names as its own, so every part of it (a Dask worker's too) prices with them. Rewritten by
    each such run, from the record alone."""
    path = directory / PRICES_FILE
    with writing(path):
        atomic_write_bytes(path, json.dumps(record.prices, indent=2).encode())
    return path


def read_run_record(directory: Path) -> RunRecord | None:
    """The last run's record, or None if no run got that far; `StateError` naming the file if damaged."""
    path = directory / RUN_FILE
    try:
        with reading(path):  # a record this user may not read is whole: not damage, never set aside
            data: Any = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DamagedFileError(str(path), f"unreadable run record ({exc})") from exc
    try:
        return _parsed(data)
    except (TypeError, ValueError) as exc:
        raise DamagedFileError(str(path), f"damaged run record ({exc})") from exc


def _parsed(data: Any) -> RunRecord:
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, found {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(RunRecord)} - {"unrecorded"}
    values = {name: value for name, value in data.items() if name in known}  # newer fields: ignored
    missing = [name for name in _REQUIRED if name not in values]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    for name, value in values.items():
        if name == "spec":
            _check_spec(value)
        elif name in ("left_out", "unpriced_said"):
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise TypeError(f"{name} is {value!r}")
        elif name == "streams_cut":
            if value is not None and not (
                isinstance(value, list) and all(v is None or isinstance(v, str) for v in value)
            ):
                raise TypeError(f"streams_cut is {value!r}")
        elif name in ("endpoints", "tools"):
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, dict) for v in value)
            ):
                raise TypeError(f"{name} is {value!r}")
        elif name in ("reading", "max_attempts"):
            if value is not None and (type(value) is not int or value < 1):
                raise TypeError(f"{name} is {value!r}")
        elif name == "orphan_policy":
            if value not in (None, "resubmit", "hold"):
                raise ValueError(f"orphan_policy is {value!r}")
        elif name in ("began", "ended"):
            _check_run_mark(name, value)
        elif name == "logprobs":
            if value is not None and (type(value) is not int or not 0 <= value <= 20):
                raise TypeError(f"logprobs is {value!r}")
        elif name == "temperature":
            if value is not None and type(value) not in (int, float):
                raise TypeError(f"temperature is {value!r}")
        elif name in ("output_schema", "prices"):
            if value is not None and not isinstance(value, dict):
                raise TypeError(f"{name} is {value!r}")
        elif not isinstance(value, str) and (name in _REQUIRED or value is not None):
            raise TypeError(f"{name} is {value!r}")
    return RunRecord(**values, unrecorded=tuple(sorted(known - set(values))))


def _check_spec(value: Any) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    ):
        raise TypeError(f"spec is {value!r}")


_MARKS: dict[str, dict[str, type]] = {
    "began": {"id": str, "at": str, "host": str, "pid": int},
    "ended": {"how": str, "at": str},
}
"""What `began` and `ended` must hold (`ended` may add `why`, a string or null)."""


def _check_run_mark(name: str, value: Any) -> None:
    if value is None:
        return
    wanted = _MARKS[name]
    if not isinstance(value, dict) or any(type(value.get(key)) is not kind for key, kind in wanted.items()):
        raise TypeError(f"{name} is {value!r}")
    if name == "ended" and (value["how"] not in RUN_ENDINGS or not isinstance(value.get("why"), str | None)):
        raise TypeError(f"ended is {value!r}")
