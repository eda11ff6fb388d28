"""Several endpoints for one batch: API keys, base URLs or Azure deployments, each with its own limits.

    endpoints = load_endpoints("endpoints.toml", settings)   # a `UsageError` in one line if anything is off
    endpoints[0].settings                                     # the run's settings with the entry's overrides

A file lists entries, as TOML `[[endpoints]]` tables or as JSON (a list, or `{"endpoints": [...]}`), each
with a unique `name` and overrides of the connection and limit settings (`FIELDS`); what an entry leaves out
is the run's. A key is never in the file: an entry names the environment variable that holds it
(`api_key_env`, `azure_api_key_env`), and a field that would hold a key itself is refused. Each endpoint
resolves to a full `Settings`, its keys read from those variables (as `SecretStr`), so a session, a
client and a rate budget are built from it exactly as from the run's own settings.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from rowrelay.tasks.embedded_key import embedded_key, on_embedded_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.setting_problems import given_as
from rowrelay.tasks.settings import AzureAuth, Backend, Settings, secret_from_env
from rowrelay.tasks.urls import CREDENTIALS_IN_URL, AzureUrl, HttpUrl

__all__ = [
    "FIELDS",
    "Endpoint",
    "EndpointEntry",
    "EndpointsSource",
    "by_name",
    "keys_here",
    "load_endpoints",
    "without_keys",
]

EndpointsSource = str | Path | Sequence[Mapping[str, Any]]
"""A TOML or JSON file, or (from Python, or a run record) the entries themselves."""


NOT_A_VARIABLE = "not_a_variable"
"""The error type of a key's variable that is no variable's name: a key pasted there, most likely, which
a message must not repeat."""


def _variable_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise PydanticCustomError(
            NOT_A_VARIABLE,
            "must be the name of the environment variable holding the key (letters, digits and _, e.g. "
            "EAST_KEY), not the key itself; the value given is no such name, and is not shown",
        )
    return value


VariableName = Annotated[str, AfterValidator(_variable_name)]


class EndpointEntry(BaseModel):
    """One entry as written: every field but `name` optional, nothing secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    backend: Backend | None = None
    base_url: HttpUrl | None = None
    api_key_env: VariableName | None = None
    """The NAME of the environment variable holding this endpoint's API key."""
    azure_endpoint: AzureUrl | None = None
    azure_api_key_env: VariableName | None = None
    azure_auth: AzureAuth | None = None
    """`entra` signs in with Microsoft Entra ID instead of a key (`Settings.azure_auth`)."""
    azure_api_version: str | None = None
    model: str | None = None
    """The model, or the Azure deployment, this endpoint's rows are sent to."""
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    poll_rpm: int | None = Field(None, ge=1)
    max_in_flight: int | None = Field(None, ge=1)


FIELDS = tuple(EndpointEntry.model_fields)
_FROM_ENV = {"api_key_env": "api_key", "azure_api_key_env": "azure_api_key"}
"""Fields naming a variable, and the setting that variable's value becomes."""


@dataclass(frozen=True)
class Endpoint:
    """A named endpoint: its entry (safe to record) and the full settings a session is built from."""

    name: str
    entry: EndpointEntry
    settings: Settings


def load_endpoints(source: EndpointsSource, settings: Settings) -> tuple[Endpoint, ...]:
    """The endpoints `source` lists, resolved over `settings`; a `UsageError` in one line naming the
    file, the entry and the field for an unreadable file, an unknown or literal-key field, a bad value, a
    duplicate name or an unset key variable."""
    where = "endpoints" if _is_entries(source) else given_as("endpoints", str(source))
    items = list(source) if _is_entries(source) else _read(Path(str(source)), where)  # type: ignore[arg-type]
    if not items:
        raise UsageError(f"{where}: lists no endpoint")
    entries = [_entry(item, where, number) for number, item in enumerate(items, 1)]
    names = [entry.name for entry in entries]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"{where}: endpoint name(s) listed twice: {', '.join(twice)}")
    return tuple(Endpoint(entry.name, entry, _resolved(entry, settings, where)) for entry in entries)


def without_keys(settings: Settings) -> Settings:
    """`settings` with no key in them: what a shard's job carries to a Dask worker (`keys_here` there)."""
    return settings.model_copy(update=dict.fromkeys(_FROM_ENV.values()))


def keys_here(entry: Mapping[str, Any] | None, settings: Settings) -> Settings:
    """`settings` with the keys this process's environment holds for `entry` (the variables it names),
    or, for what it names none (or with no entry), the run's usual key variables: what a shard on a
    Dask worker runs with, the keys never having left that worker's machine. The embedded emulator takes
    the key its own options name, as on the machine that started it: never one of the worker's (a real
    key sent to a local test server, and refused by one that requires its own)."""
    if on_embedded_emulator(settings.backend, settings.base_url):
        return settings.model_copy(
            update={"api_key": embedded_key(settings.emulator_args), "azure_api_key": None}
        )
    here = Settings()
    update: dict[str, Any] = {setting: getattr(here, setting) for setting in _FROM_ENV.values()}
    for variable_field, setting in _FROM_ENV.items():
        variable = None if entry is None else entry.get(variable_field)
        if variable is not None:
            update[setting] = secret_from_env(variable, f"endpoint {entry and entry.get('name')!r}")
    return settings.model_copy(update=update)


def by_name(endpoints: Sequence[Endpoint]) -> dict[str, Endpoint]:
    return {endpoint.name: endpoint for endpoint in endpoints}


def _is_entries(source: EndpointsSource) -> bool:
    return not isinstance(source, str | Path)


def _read(path: Path, where: str) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{where}: cannot read it ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise UsageError(f"{where}: must be a .toml or .json file")
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"{where}: not valid {path.suffix[1:].upper()} ({exc})".replace("\n", " ")) from exc
    if isinstance(data, dict):
        if set(data) != {"endpoints"}:
            raise UsageError(f"{where}: expected only a list named endpoints ([[endpoints]] in TOML)")
        data = data["endpoints"]
    if not isinstance(data, list):
        raise UsageError(f"{where}: expected a list of endpoints")
    return data


def _entry(item: Any, where: str, number: int) -> EndpointEntry:
    if not isinstance(item, Mapping):
        raise UsageError(f"{where}: entry {number} is not a table of fields")
    said = f"{where}: endpoint {item.get('name', number)!r}"
    for field in item:
        if "key" in str(field).lower() and str(field) not in _FROM_ENV:
            # Never repeat the value: it may be a key.
            raise UsageError(
                f"{said}: {field!r} would put a key in the file; keep the key in an environment "
                "variable and name that variable with api_key_env (or azure_api_key_env)"
            )
    try:
        return EndpointEntry.model_validate(dict(item))
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "entry"
        if problem["type"] == "extra_forbidden":
            known = ", ".join(FIELDS)
            raise UsageError(f"{said}: unknown field {field!r} (known: {known})") from None
        quiet = problem["type"] in ("missing", CREDENTIALS_IN_URL, NOT_A_VARIABLE)  # never repeat a key
        got = "" if quiet else f" (got {problem.get('input')!r})"
        # Not chained: pydantic's error would repeat the value in a traceback (`input_value=...`).
        raise UsageError(f"{said}: {field}: {problem['msg'][:1].lower()}{problem['msg'][1:]}{got}") from None


def _resolved(entry: EndpointEntry, settings: Settings, where: str) -> Settings:
    """The run's settings with what the entry sets; its keys read from the variables it names. (The
    entry's values were validated as the settings' own would be: a copy with them needs no check.)"""
    update: dict[str, Any] = entry.model_dump(exclude_none=True, exclude={"name", *_FROM_ENV})
    for variable_field, setting in _FROM_ENV.items():
        variable = getattr(entry, variable_field)
        if variable is not None:
            update[setting] = secret_from_env(variable, f"{where}: endpoint {entry.name!r}")
    return settings.model_copy(update=update)
