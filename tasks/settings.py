"""rowrelay's settings: one frozen object, every field described, read from the environment once.

Only this module reads the environment. `ROWRELAY_*` variables set rowrelay's own options; the SDK's own
`OPENAI_*` and `AZURE_OPENAI_*` variables are read here too, so the rest of the code receives plain values.
Keys are held as `SecretStr`, so they print as `**********` in logs, reprs and artifacts.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.hosted_tools import canonical
from rowrelay.tasks.key_variables import read_a_key_from
from rowrelay.tasks.records import (
    DEFAULT_HOME,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_STATE_DIR,
    POLL_STREAMS,
    WaitMode,
)
from rowrelay.tasks.setting_problems import first_problem, misspelt_variable
from rowrelay.tasks.setting_variables import every_variable, key_variables_of, variable_named
from rowrelay.tasks.unsendable_keys import unsendable_key
from rowrelay.tasks.urls import AzureUrl, HttpUrl

Backend = Literal["auto", "emulator", "openai", "azure", "chat", "agent"]
AzureAuth = Literal["key", "entra"]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
"""The spec's `ReasoningEffort`: which of them a model takes is the model's (a 400 names the others)."""


class Settings(BaseSettings):
    """Every option of a run. Defaults need no configuration: no key means the local emulator."""

    model_config = SettingsConfigDict(
        env_prefix="ROWRELAY_", frozen=True, extra="ignore", populate_by_name=True
    )

    backend: Backend = Field(
        "auto",
        description="auto: Azure if ROWRELAY_AZURE_AUTH=entra, else OpenAI if a key or base URL is "
        "configured, else Azure if its endpoint is, else the embedded emulator; "
        "emulator; openai (any OpenAI-compatible base URL); azure (AZURE_OPENAI_ENDPOINT, and "
        "AZURE_OPENAI_API_KEY or ROWRELAY_AZURE_AUTH=entra); chat (Chat Completions, no background); "
        "agent (a Microsoft Agent Framework agent on OpenAI or the base URL; needs rowrelay[agents]).",
    )
    base_url: HttpUrl | None = Field(
        None,
        description="API base URL ending in /v1 (OpenAI-compatible servers, a running emulator).",
        validation_alias=AliasChoices("ROWRELAY_BASE_URL", "OPENAI_BASE_URL"),
    )
    api_key: SecretStr | None = Field(
        None,
        description="API key; never written to the state table, logs, artifacts or outputs.",
        validation_alias=AliasChoices("ROWRELAY_API_KEY", "OPENAI_API_KEY"),
    )
    azure_endpoint: AzureUrl | None = Field(
        None,
        description="Azure OpenAI endpoint, e.g. https://NAME.openai.azure.com.",
        validation_alias=AliasChoices("ROWRELAY_AZURE_ENDPOINT", "AZURE_OPENAI_ENDPOINT"),
    )
    azure_api_key: SecretStr | None = Field(
        None,
        description="Azure OpenAI key.",
        validation_alias=AliasChoices("ROWRELAY_AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
    )
    azure_auth: AzureAuth = Field(
        "key",
        description="How the azure backend signs in: key (the Azure OpenAI key) or entra (Microsoft "
        "Entra ID: az login, a service principal's AZURE_CLIENT_* variables or a managed identity; needs "
        "rowrelay[azure]; with backend auto, the run's backend is then azure, and any other is refused).",
    )
    azure_api_version: str = Field(
        "2025-04-01-preview",
        description="Azure OpenAI API version.",
        validation_alias=AliasChoices("ROWRELAY_AZURE_API_VERSION", "OPENAI_API_VERSION"),
    )
    model: str = Field("gpt-4.1-mini", description="Model (or Azure deployment) name.")
    mode: WaitMode = Field("poll", description="How to wait for background responses: poll or stream.")
    poll_streams: int = Field(
        POLL_STREAMS,
        ge=0,
        description="Poll mode: responses at most followed on their create's stream at once (no polls, "
        "seen the moment they end; a connection each); the rest are polled. 0 polls every row.",
    )
    rpm: int = Field(500, ge=1, description="Creates per minute the run may send.")
    tpm: int = Field(2_000_000, ge=1, description="Tokens per minute (prompt estimate + max output).")
    poll_rpm: int = Field(
        3_000,
        ge=1,
        description="Polls, stream resumes and cancels per minute, a budget apart from --rpm's: where it "
        "binds, completions are noticed late (raise it where the server allows, or use --mode stream).",
    )
    max_in_flight: int = Field(200, ge=1, description="Background responses open at once.")
    max_attempts: int = Field(
        DEFAULT_MAX_ATTEMPTS, ge=1, description="Creates per row before it ends failed."
    )
    output_schema: str | None = Field(
        None,
        description="Structured outputs: a JSON Schema file (.json) or a Pydantic model (module:Model); "
        "every answer must be JSON valid against it, and the output gets a typed column per top-level field.",
    )
    max_output_tokens: int | None = Field(
        None,
        ge=16,
        description="Ceiling on each answer's output tokens, reasoning included (the API's "
        "max_output_tokens); also what --tpm and --max-cost count a row's answer as. A row that reaches it "
        "ends incomplete, its output kept. At least 16.",
    )
    reasoning_effort: ReasoningEffort | None = Field(
        None,
        description="How much a reasoning model (o-series, gpt-5) thinks before answering (the API's "
        "reasoning.effort): none, minimal, low, medium, high, xhigh or max, as the model allows; more "
        "effort, more reasoning tokens, billed as output. None sends none (the model's default).",
    )
    reasoning_summary: Literal["auto", "concise", "detailed"] | None = Field(
        None,
        description="Ask a reasoning model to summarise its reasoning (the API's reasoning.summary): auto, "
        "concise or detailed; each row's summary goes to the output's reasoning_summary column. Responses "
        "API backends only (Chat Completions writes none). None asks for none.",
    )
    temperature: float | None = Field(
        None,
        ge=0,
        le=2,
        description="Sampling temperature, 0 to 2 (the API's temperature): lower, more repeatable answers "
        "(0 for classification); reasoning models take only the default, 1. None sends none (1).",
    )
    image_detail: Literal["low", "high", "auto", "original"] | None = Field(
        None,
        description="How closely the model looks at each row's images (the API's detail): low (85 tokens "
        "an image on the models that count tiles, such as gpt-4.1 and gpt-4o; those that count patches, "
        "such as gpt-4.1-mini, bill it as high), high, original, or auto (the server's choice, sent when "
        "none is given). Needs --image-column.",
    )
    logprobs: int | None = Field(
        None,
        ge=0,
        le=20,
        description="Keep each answer token's log probability and its N likeliest alternatives (0 to 20; "
        "the API's top_logprobs): the output gets answer_logprob, the answer's log probability (exp() "
        "of it, a classification row's confidence), and token_logprobs. Models that reason give none. "
        "None asks for none.",
    )
    tools: str | None = Field(
        None,
        description="Server-side tools every row's create offers the model (the API's tools): names "
        "(web_search, web_search_preview, code_interpreter; comma-separated), or a JSON "
        "file (or the JSON) of tool objects, for file_search's vector stores or a remote MCP server. "
        "Deep research models need one. Tool calls are billed on top of tokens.",
    )
    max_tool_calls: int | None = Field(
        None,
        ge=1,
        description="Most server-side tool calls (web searches, ...) one row's response may make (the API's "
        "max_tool_calls): what bounds a deep research row's cost. None sets none.",
    )
    max_cost: float | None = Field(
        None,
        ge=0,
        description="Spending cap in US dollars for the whole batch (what earlier runs spent counts): "
        "before each create, spent + in-flight estimates + the row's estimate must stay within it; at the "
        "cap no new row is sent, rows in flight finish, and the run exits 1 (a higher cap resumes).",
    )
    service_tier: Literal["flex", "default", "priority"] | None = Field(
        None,
        description="Processing tier asked for on every request (the API's service_tier): flex (cheaper, "
        "slower), default, or priority (faster, dearer); priced accordingly. None sends none.",
    )
    prices: Path | None = Field(
        None,
        description="A JSON price file over rowrelay's own table (same shape as rowrelay/tasks/llm/"
        "prices.json): add a model or an Azure deployment, or a newer price.",
    )
    request_timeout: float = Field(60.0, gt=0, description="Seconds before one HTTP call times out.")
    chat_timeout: float = Field(
        600.0,
        gt=0,
        description="Seconds a Chat Completions create (--backend chat) waits for its answer, which the "
        "server sends only once the whole answer is written (no background mode): the model's whole "
        "generation, so longer than request_timeout; 600 is the SDK's own default. A create it cuts is "
        "counted as maybe sent and its row held for `rowrelay retry` (see rowrelay.tasks.llm.chat_timeouts).",
    )
    transport_retries: int = Field(
        2,
        ge=0,
        description="SDK transport retries for polls, streams and cancels. Creates always use 0: a "
        "create that timed out may have started a job, so rowrelay decides (see rowrelay.tasks.llm.client).",
    )
    transport: Literal["lean", "sdk"] = Field(
        "lean",
        description="How background creates, polls, cancels, streams and resumes reach the Responses API: "
        "lean (aiohttp and orjson, a tenth of the SDK's CPU per call) or sdk (the SDK's own transport). Both "
        "take URL, keys and error types from the SDK client (see rowrelay.tasks.llm.wire).",
    )
    queued_timeout: float = Field(
        900.0, gt=0, description="A response still queued after this many seconds is cancelled and retried."
    )
    give_up_after: float = Field(
        3600.0,
        ge=0,
        description="Stop the run when the server has answered no request for this many seconds while rows "
        "tried (refused connections, timeouts, 5xx); rows keep their response ids and the same command "
        "resumes. 0 waits for ever.",
    )
    dask_no_workers_after: float = Field(
        60.0,
        ge=0,
        description="On a Dask cluster (--dask, --dask-workers): how long a run waits for a worker. At its "
        "start, for the cluster's first (a SLURM, PBS or adaptive cluster has none until they are granted), "
        "then refused, nothing sent; mid-run, it stops once the cluster has had no running worker for this "
        "many seconds (every worker gone, none started again), or its scheduler has not answered for as "
        "long, where Dask would wait for ever; rows keep their state and the same command resumes. Workers "
        "back sooner go on with the shards. 0 waits for ever.",
    )
    orphan_policy: Literal["resubmit", "hold"] = Field(
        "resubmit", description="What to do with rows found `submitting` after a crash."
    )
    expired_policy: Literal["resubmit", "hold"] = Field(
        "resubmit", description="What to do with rows whose response the server no longer holds."
    )
    checkpoint_interval: float = Field(0.2, gt=0, description="Longest wait before a group commit.")
    checkpoint_rows: int = Field(1000, ge=1, description="Changed rows that force a group commit.")
    state_dir: Path = Field(DEFAULT_STATE_DIR, description="Where batch state tables live by default.")
    output_dir: Path = Field(Path("data/output"), description="Where outputs go when no path is given.")
    home: Path = Field(
        DEFAULT_HOME,
        description="rowrelay's own files: the records (address, pid) and logs of the embedded emulator "
        "and the local Prefect server, and that server's database.",
    )
    prefect: Literal["local", "ephemeral"] = Field(
        "local",
        description="Where runs are recorded when no Prefect API (PREFECT_API_URL) is configured: local, a "
        "Prefect server started once under the home and reused (`rowrelay services`); ephemeral, Prefect's "
        "own server started and stopped by every run (seconds slower per run).",
    )
    warm: bool = Field(
        True,
        description="Let the installed `rowrelay run` be served by a runner that has imported Prefect, "
        "pandas and the SDK already (saves their 3-4 s import; started after a run, kept an hour, "
        "`rowrelay services`); false runs every command in its own process.",
    )
    emulator_args: str = Field(
        # A retention of a day: the embedded emulator is reused across runs for as long as the machine
        # is up, and would otherwise hold every request it was sent (an image batch's, gigabytes).
        "--latency lognormal:2,0.6 --seed 7 --retention 86400",
        description="Options for the embedded emulator started when no API key or base URL is set.",
    )
    shard_size: int = Field(1000, ge=1, description="Rows per Prefect shard task (never one task per row).")

    @field_validator("model")
    @classmethod
    def _a_model_name(cls, value: str) -> str:
        """Checked before anything starts: a blank name was sent with every create, and refused by the
        server only once the emulator or Prefect had been started and the state written."""
        if not value or value != value.strip() or any(c.isspace() for c in value):
            raise ValueError(
                f"must be a model's (or Azure deployment's) name, without spaces (got {value!r})"
            )
        return value

    @field_validator("emulator_args")
    @classmethod
    def _emulator_would_start(cls, value: str) -> str:
        """Parsed by the emulator's own command line, nothing started: a bad option was found only once
        Prefect had been contacted, by an emulator that failed to start and said nothing of why."""
        if value == cls.model_fields["emulator_args"].default:
            return value  # the emulator's import spared: what every run without the variable gives
        from rowrelay.tasks.emulator.cli import options_problem

        try:
            problem = options_problem(shlex.split(value))
        except ValueError as exc:  # shlex: an unclosed quote
            problem = f"cannot be split as a command line ({exc})"
        if problem is not None:
            raise ValueError(f"the embedded emulator would refuse {value!r}: {problem}")
        return value

    @field_validator("tools")
    @classmethod
    def _canonical_tools(cls, value: str | None) -> str | None:
        """Any way of giving the tools, as the JSON array every create sends (`hosted_tools`)."""
        return None if value is None else canonical(value)


def secret_from_env(variable: str, where: str) -> SecretStr:
    """The secret held by environment variable `variable` (named by an endpoints file, say); a
    `UsageError` naming `where` and the variable, never a value, when it is unset, empty or unsendable."""
    value = os.environ.get(variable)
    read_a_key_from(variable)  # kept out of the processes a run leaves running (flows/detached.py)
    # A variable's name is said as given when written as names usually are (EAST_KEY); one in lower case
    # may be a key pasted where its variable's name goes (an Azure key is lower-case hex): not repeated.
    named = re.fullmatch(r"[A-Z_][A-Z0-9_]*", variable) is not None
    if not value:
        said = (
            f"environment variable {variable}"
            if named
            else "the environment variable it names (not repeated: a name in lower case may be a key)"
        )
        raise UsageError(f"{where}: {said} is not set (it should hold the key)")
    if (problem := unsendable_key(value, variable if named else "its key's variable")) is not None:
        raise UsageError(f"{where}: {problem}")
    return SecretStr(value)


def variable_of(name: str) -> str:
    """The environment variable setting `name` was read from (the first of its names that is set), to
    name it in a message; its first name when none is set (`setting_variables`)."""
    return variable_named(name, Settings.model_fields, os.environ)


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; explicit overrides (CLI flags, flow parameters) win.

    An invalid value is a `UsageError` in one line naming where it came from, as the command line option
    when it was given (`--rpm: must be at least 1 (got -5)`) or else as its variable (`ROWRELAY_RPM: ...`):
    the one place settings are validated, for every entry point. A `ROWRELAY_*` variable a letter or two
    off one rowrelay reads (`ROWRELAY_RMP`) is refused so too, naming the one meant: ignored, it left a
    run at the default it was set to change.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    fields = Settings.model_fields
    misspelt = misspelt_variable(every_variable(fields), os.environ, keys=key_variables_of(fields))
    if misspelt is not None:
        raise UsageError(misspelt)
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        # Not chained: the line says what was wrong, and pydantic's error under it in a traceback repeats
        # the value (`input_value='http://user:password@...'`), a URL's credentials too.
        raise UsageError(first_problem(exc, given, Settings.model_fields, os.environ)) from None
