"""One run's request: the input, how to read it, where its state and output go, and the settings it
overrides. Built once, validated and frozen, by whoever starts a run (the CLI, `run_batch`,
`rowrelay deploy`, a notebook through `run_batch`):

    request = BatchRequest.build("tickets.csv", template="Triage: {body}", rpm=3000)
    request.settings.rpm                 # 3000: the environment, then these overrides, validated
    run_batch(**request.parameters())    # what a flow run (or a deployment) is given: never a key
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rowrelay.flows.outcome import FailThreshold
from rowrelay.tasks.dataset import InputSpec, PreparedInput
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.settings import Settings, load_settings

Source = str | pd.DataFrame
"""A CSV, Parquet or JSONL path, or (from Python) a DataFrame."""
RUN_SETTINGS = ("model", "mode", "rpm", "tpm", "max_in_flight", "max_attempts", "backend", "base_url")
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
    fail_when_failed: str | None = None
    """Past how many rows that did not complete the flow run ends `Failed` (`N` or `P%`; flows/outcome.py)."""

    @classmethod
    def build(
        cls,
        source: Source | Path,
        *,
        template: str | None = None,
        prompt_column: str | None = None,
        id_column: str | None = None,
        instructions: str | None = None,
        state: str | Path | None = None,
        output: str | Path | None = None,
        agent: str | None = None,
        fail_when_failed: str | None = None,
        **overrides: Any,
    ) -> BatchRequest:
        """Validate everything a run is asked for; a bad option raises `UsageError` naming it."""
        given = {name: value for name, value in overrides.items() if value is not None}
        unknown = sorted(set(given) - set(RUN_SETTINGS))
        if unknown:
            names = ", ".join(f"ROWRELAY_{name.upper()}" for name in unknown)
            raise UsageError(
                f"{', '.join(unknown)}: not a run parameter; set it in the environment ({names})"
            )
        settings = load_settings(**given)
        threshold = FailThreshold.parse(fail_when_failed)
        spec = InputSpec(template, prompt_column, id_column, instructions)
        return cls(
            source=source if isinstance(source, pd.DataFrame) else str(source),
            spec=spec,
            settings=settings,
            overrides=given,
            state=None if state is None else Path(state),
            output=None if output is None else Path(output),
            agent=agent,
            fail_when_failed=None if threshold is None else str(threshold),
        )

    def state_dir(self, prepared: PreparedInput) -> Path:
        """The given state directory, else `<state dir>/<input name>-<fingerprint>`: the same input and
        spec resume the same batch."""
        if self.state is not None:
            return self.state
        stem = "dataframe" if isinstance(self.source, pd.DataFrame) else Path(self.source).stem
        return self.settings.state_dir / f"{stem}-{prepared.fingerprint[:10]}"

    def output_path(self, state_dir: Path) -> Path:
        """The given output file, else `<output dir>/<batch name>.parquet`."""
        return self.output or self.settings.output_dir / f"{state_dir.name}.parquet"

    def input_path(self) -> str | None:
        """The input file's absolute path (None for a DataFrame): what a later `rowrelay export` rereads."""
        return None if isinstance(self.source, pd.DataFrame) else str(Path(self.source).resolve())

    def parameters(self) -> dict[str, Any]:
        """The `run_batch` parameters that rebuild this request: paths, spec, overrides; never a key."""
        given = {
            **asdict(self.spec),
            **self.overrides,
            "state": None if self.state is None else str(self.state),
            "output": None if self.output is None else str(self.output),
            "agent": self.agent,
            "fail_when_failed": self.fail_when_failed,
        }
        return {"source": self.source, **{name: value for name, value in given.items() if value is not None}}
