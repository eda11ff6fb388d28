"""One run's request: the input, how to read it, where its state and output go, and the settings it
overrides. Built once, validated and frozen, by whoever starts a run (the CLI, `run_batch`,
`rowrelay deploy`, a notebook through `run_batch`):

    request = BatchRequest.build("tickets.csv", template="Triage: {body}", rpm=3000)
    request.settings.rpm                 # 3000: the environment, then these overrides, validated
    run_batch(**request.parameters())    # what a flow run (or a deployment) is given: never a key
"""

from __future__ import annotations

import json
import operator
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsIndex, TypeAlias, TypeGuard, cast

from rowrelay.flows.backend_options import refuse_unsendable
from rowrelay.flows.cluster import ClusterChoice, check_cost_cap
from rowrelay.flows.outcome import FailThreshold
from rowrelay.flows.parameter_types import refuse_names_not_utf8, refuse_wrong_types, row_count
from rowrelay.tasks.dataset.input_spec import InputSpec
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.run.endpoints import Endpoint, EndpointsSource, load_endpoints
from rowrelay.tasks.setting_problems import option_of, said_as
from rowrelay.tasks.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd

    from rowrelay.tasks.dataset import PreparedInput
    from rowrelay.tasks.llm.prices import PriceTable
    from rowrelay.tasks.llm.structured import OutputSchema, SchemaSource

Source: TypeAlias = "str | pd.DataFrame"
"""A CSV, Parquet or JSONL path, or (from Python) a DataFrame."""
RUN_SETTINGS = (
    "model", "mode", "rpm", "tpm", "poll_rpm", "max_in_flight", "max_attempts", "backend", "base_url",
    "output_schema",
    "max_cost", "service_tier", "prices", "give_up_after", "max_output_tokens", "reasoning_effort",
    "temperature", "reasoning_summary", "tools", "max_tool_calls", "image_detail", "logprobs",
)  # fmt: skip
"""The settings a run's parameters may override; the others (keys above all) come from the environment."""


@dataclass(frozen=True)
class BatchRequest:
    source: Source
    spec: InputSpec
    settings: Settings
    overrides: dict[str, Any] = field(default_factory=dict)
    """The settings given explicitly (the rest come from the environment and the defaults)."""
    state: Path | None = None
    output: Path | None = None
    agent: str | None = None
    """An Agent Framework agent factory, `package.module:function`, that runs every row."""
    output_schema: OutputSchema | None = None
    """Structured outputs: the schema every answer must follow (`--schema`, `output_schema=`)."""
    fail_when_failed: str | None = None
    """Past how many rows that did not complete the flow run ends `Failed` (`N` or `P%`; flows/outcome.py)."""
    endpoints: tuple[Endpoint, ...] = ()
    """Several endpoints (`--endpoints`, tasks/run/endpoints.py), each a full `Settings`; empty: the run's."""
    endpoints_source: str | list[dict[str, Any]] | None = None
    """What the endpoints were given as (a file's path, or the entries from Python): never a key."""
    dask: str | None = None
    """A Dask scheduler's address: the shards run on its workers (flows/cluster.py)."""
    dask_workers: int | None = None
    """Workers of a LocalCluster started for the run."""
    limit: int | None = None
    """Send at most this many rows in this run, the first to send in input order (`plan.plan_batch`)."""
    resend_edited: bool = False
    """Send again, under their new text, rows sent whose input was edited (`run.edited_inputs`)."""

    @classmethod
    def build(
        cls,
        source: Source | Path,
        *,
        template: str | None = None,
        prompt_column: str | None = None,
        id_column: str | None = None,
        instructions: str | None = None,
        image_column: str | None = None,
        file_column: str | None = None,
        state: str | Path | None = None,
        output: str | Path | None = None,
        agent: str | None = None,
        fail_when_failed: str | None = None,
        endpoints: EndpointsSource | None = None,
        dask: str | None = None,
        dask_workers: SupportsIndex | None = None,
        limit: SupportsIndex | None = None,
        resend_edited: bool = False,
        **overrides: Any,
    ) -> BatchRequest:
        """Validate everything a run is asked for; a bad option raises `UsageError` naming it.

        `output_schema` may also be a JSON Schema dict or a Pydantic model class (from Python); `endpoints`
        a TOML or JSON file, or (from Python) a list of entries, read and resolved here."""
        if not (isinstance(source, str | Path) or _is_frame(source)):
            raise UsageError(
                f"the input must be a file's path (CSV, Parquet, JSONL) or a pandas DataFrame (got a "
                f"{type(source).__name__})"
            )
        own = {
            "template": template, "prompt_column": prompt_column, "id_column": id_column,
            "instructions": instructions, "image_column": image_column, "file_column": file_column,
            "state": state, "output": output, "agent": agent, "fail_when_failed": fail_when_failed,
            "dask": dask, "dask_workers": dask_workers,
        }  # fmt: skip
        refuse_wrong_types(own)  # before any is used: each wrong one raised its own TypeError, or worse
        refuse_names_not_utf8(
            {"input": None if _is_frame(source) else source, "state": state, "output": output}
        )
        given = {name: value for name, value in overrides.items() if value is not None}
        if isinstance(given.get("tools"), list | dict):  # from Python: the API's tool objects themselves
            given["tools"] = json.dumps(given["tools"])
        schema_object = given.pop("output_schema", None)
        if isinstance(schema_object, str):  # a path or module:Model is a setting like the others
            given["output_schema"], schema_object = schema_object, None
        unknown = sorted(set(given) - set(RUN_SETTINGS))
        if unknown:
            raise UsageError(_not_run_parameters(unknown))
        settings = load_settings(**given)
        if settings.tools is not None:
            given["tools"] = settings.tools  # the tools themselves, never a path read differently later
        # Numbers as the settings took them: a NumPy scalar (rpm=frame["n"].max()) stayed one in
        # `parameters`, which Prefect, unable to encode it, recorded as '<int64>'.
        taken = {name: getattr(settings, name) for name in given}
        given.update({name: value for name, value in taken.items() if isinstance(value, int | float)})
        refuse_unsendable(settings, agent, given)
        limit = row_count("limit", limit)
        if not isinstance(resend_edited, bool):  # "no" from Python would be true: it pays for rows again
            raise UsageError(f"resend_edited: must be True or False (got {resend_edited!r})")
        workers = None if dask_workers is None else operator.index(dask_workers)  # a NumPy one: an int
        threshold = FailThreshold.parse(fail_when_failed)
        if ClusterChoice.of(dask, workers) is not None:
            check_cost_cap(settings)
        spec = InputSpec(template, prompt_column, id_column, instructions, image_column, file_column)
        if settings.image_detail is not None and image_column is None:
            raise UsageError(
                f"{said_as('image_detail', given)}: no {option_of('image_column')} is given, so no row sends "
                "an image"
            )
        schema_source = schema_object if schema_object is not None else settings.output_schema
        schema_named = (
            option_of("output_schema", "--schema")
            if schema_object is not None
            else said_as("output_schema", given, "--schema")
        )
        _price_table(settings, given)  # a price file checked here, where it is known how it was given
        listed = () if endpoints is None else load_endpoints(endpoints, settings)
        source_of_endpoints = _endpoints_source(endpoints)
        return cls(
            source=source if _is_frame(source) else str(source),
            spec=spec,
            settings=settings,
            overrides=given,
            state=None if state is None else Path(state),
            output=None if output is None else Path(output),
            agent=agent,
            output_schema=None if schema_source is None else _loaded(schema_source, schema_named),
            fail_when_failed=None if threshold is None else str(threshold),
            endpoints=listed,
            endpoints_source=source_of_endpoints,
            dask=dask,
            dask_workers=workers,
            limit=limit,
            resend_edited=resend_edited,
        )

    def state_dir(self, prepared: PreparedInput) -> Path:
        """The given state directory, else `<state dir>/<input name>-<fingerprint>`: the same input and
        spec resume the same batch."""
        if self.state is not None:
            return self.state
        path = _path_of(self.source)
        stem = "dataframe" if path is None else path.stem
        return self.settings.state_dir / f"{stem}-{prepared.fingerprint[:10]}"

    def output_path(self, state_dir: Path) -> Path:
        """The given output file, else `<output dir>/<batch name>.parquet`."""
        return self.output or self.settings.output_dir / f"{state_dir.name}.parquet"

    def input_path(self) -> str | None:
        """The input file's absolute path (None for a DataFrame): what a later `rowrelay export` rereads."""
        path = _path_of(self.source)
        return None if path is None else str(path.resolve())

    def price_table(self) -> PriceTable:
        """The run's prices: rowrelay's table, with its price file over it (checked by `build`)."""
        return _price_table(self.settings, self.overrides)

    def parameters(self) -> dict[str, Any]:
        """The `run_batch` parameters that rebuild this request: paths, spec, overrides; never a key."""
        given = {
            **asdict(self.spec),
            **self.overrides,
            "state": None if self.state is None else str(self.state),
            "output": None if self.output is None else str(self.output),
            "agent": self.agent,
            "fail_when_failed": self.fail_when_failed,
            "endpoints": self.endpoints_source,
            "dask": self.dask,
            "dask_workers": self.dask_workers,
            "limit": self.limit,
            "resend_edited": self.resend_edited or None,  # left out unless asked: as every default is
        }
        schema = self.output_schema
        if (
            schema is not None
            and "output_schema" not in self.overrides
            and schema.source != self.settings.output_schema
        ):
            given["output_schema"] = schema.schema  # a dict or model from Python: as sent
        return {"source": self.source, **{name: value for name, value in given.items() if value is not None}}


def _endpoints_source(source: EndpointsSource | None) -> str | list[dict[str, Any]] | None:
    """A file as its path (a flow run's parameter), entries as plain dicts; neither can hold a key."""
    if source is None or isinstance(source, str | Path):
        return None if source is None else str(source)
    return [dict(entry) for entry in source]


def _loaded(source: SchemaSource, named: str) -> OutputSchema:
    from rowrelay.tasks.llm.structured import load_output_schema  # the SDK and jsonschema: only when asked

    return load_output_schema(source, named=named)


def _price_table(settings: Settings, given: dict[str, Any]) -> PriceTable:
    """The settings' prices, a price file named as it was given (`--prices`, or `ROWRELAY_PRICES`)."""
    from rowrelay.tasks.llm.prices import load_prices

    return load_prices(settings.prices, named=said_as("prices", given))


def _not_run_parameters(names: list[str]) -> str:
    """Why `names` cannot be given to a run: a setting that comes from the environment only (a key),
    named by its variable; else no setting at all, with the nearest run parameter (a misspelling)."""
    import difflib

    said = []
    for name in names:
        if name in Settings.model_fields:
            said.append(f"{name}: not a run parameter; set it in the environment (ROWRELAY_{name.upper()})")
        else:
            near = difflib.get_close_matches(name, [*RUN_SETTINGS, *_BUILD_PARAMETERS], n=1)
            said.append(f"{name}: no such parameter" + (f" (did you mean {near[0]}?)" if near else ""))
    return "; ".join(said)


_BUILD_PARAMETERS = (
    "template", "prompt_column", "id_column", "instructions", "image_column", "file_column", "state",
    "output", "agent", "fail_when_failed", "endpoints", "dask", "dask_workers", "limit", "output_schema",
    "resend_edited",
)  # fmt: skip
"""`build`'s own keyword parameters, beside the settings a run may override."""


def _is_frame(source: object) -> TypeGuard[pd.DataFrame]:
    """Whether `source` is a DataFrame, without importing pandas: a command that only checks its options
    (and refuses one) should not wait for it, and no DataFrame exists unless pandas was imported."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(source, pandas.DataFrame)


def _path_of(source: Source) -> Path | None:
    """The input file's path; None for a DataFrame."""
    return None if _is_frame(source) else Path(cast(str, source))
