"""Choosing what a run talks to. With no key and no base URL, the embedded emulator: nothing to set up."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rowrelay.flows.embedded import ensure_emulator, kept_up, stopped_since
from rowrelay.flows.emulator_records import emulator_records
from rowrelay.tasks.embedded_key import embedded_key, on_embedded_emulator
from rowrelay.tasks.llm.credentials import key_set
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.setting_problems import one_of, option_of
from rowrelay.tasks.settings import Settings, variable_of

if TYPE_CHECKING:
    from rowrelay.tasks.state import StateTable

log = logging.getLogger("rowrelay.backend")


def backend_name(settings: Settings) -> str:
    """The backend a run with these settings talks to: `auto` resolved, nothing started."""
    if settings.backend != "auto":
        return settings.backend
    # Only Azure signs in with Entra ID: an OpenAI key set as well is not the one meant.
    if settings.azure_auth == "entra":
        return "azure"
    if key_set(settings.api_key) or settings.base_url:
        return "openai"
    return "azure" if settings.azure_endpoint else "emulator"


def azure_base_url_problem(settings: Settings, given: Mapping[str, object]) -> str | None:
    """Why a base URL given to a run on Azure is refused, in one line (None: none is, or it is ignored).
    The Azure client sends every request to AZURE_OPENAI_ENDPOINT and never to a base URL, yet the base
    URL was recorded in run.json and compared as the batch's server: a stray one made every Azure
    resource the same server (a resume on another paid for its rows again) and refused the same resource
    in a clean shell. One given as rowrelay's option (`--base-url`, `base_url=`, ROWRELAY_BASE_URL) was
    meant for this run: refused, since it would do nothing. One from OPENAI_BASE_URL alone is the SDK's
    variable, which its own Azure client ignores too and which a shell keeps for other OpenAI tools:
    ignored (`resolve_backend` drops it), so it never decides which server a batch ran on."""
    if backend_name(settings) != "azure" or settings.base_url is None:
        return None
    named = option_of("base_url") if "base_url" in given else variable_of("base_url")
    if named == "OPENAI_BASE_URL":
        return None
    return (
        f"{named}: the azure backend sends every request to AZURE_OPENAI_ENDPOINT, never to a base URL; "
        f"leave {named} out, or use {one_of('backend', ('openai',))} to run at that base URL"
    )


def needs_embedded_emulator(settings: Settings) -> bool:
    """Whether a run with these settings talks to the embedded emulator (which `resolve_backend` starts)."""
    return on_embedded_emulator(backend_name(settings), settings.base_url)


def resolve_backend(settings: Settings) -> tuple[Settings, str | None]:
    """Resolve `auto` and start the embedded emulator when needed; returns the settings and base URL."""
    backend = backend_name(settings)
    url = settings.base_url
    update: dict[str, object] = {"backend": backend}
    if backend == "azure":  # only OPENAI_BASE_URL gets here (`azure_base_url_problem`): its client ignores it
        url = None
        update["base_url"] = None  # nor recorded in run.json, nor said to be where the run went
    if needs_embedded_emulator(settings):
        url, started = ensure_emulator(settings.home, settings.emulator_args)
        why = "backend emulator" if settings.backend == "emulator" else "no API key or base URL configured"
        # Started, it is news (a process left running for later runs; no key set, if one was meant); reused,
        # it is every default run's normal course, which the closing line names (`backend: emulator`).
        if started:  # what a first run's user needs: that the answers are not a model's, and how to stop it
            log.warning(
                "started the embedded emulator at %s for this and later runs (%s): its answers are made-up "
                "words, not a model's; `rowrelay services stop emulator` stops it",
                url,
                why,
            )
        else:
            log.info("reusing the embedded emulator at %s (%s)", url, why)
        update["api_key"] = embedded_key(settings.emulator_args)
    return settings.model_copy(update=update), url


def with_embedded_key(settings: Settings) -> Settings:
    """`settings` of a batch that ran at a base URL, keyed as `resolve_backend` keyed its run when that URL
    is an embedded emulator's still on record (`rowrelay cancel` reaches it by its recorded URL, where the
    run's settings named none); any other server gets the settings' key, as a run on it did."""
    if settings.backend != "emulator" or settings.base_url is None:
        return settings
    url = str(settings.base_url).rstrip("/")
    for record in emulator_records(settings.home):
        if str(record.get("url", "")).rstrip("/") == url:
            return settings.model_copy(update={"api_key": embedded_key(str(record.get("args", "")))})
    return settings


def embedded_kept_up(
    settings: Settings, url: str | None, table: StateTable
) -> contextlib.AbstractContextManager[None]:
    """For a run on the embedded emulator, keep it up while the block runs (`embedded.kept_up`), having
    first said whether it stopped since `table`'s rows' responses were made (`embedded.stopped_since`)."""
    if url is None or not needs_embedded_emulator(settings):
        return contextlib.nullcontext()
    if (lost := stopped_since(settings.home, url, functools.partial(_held_before, table))) is not None:
        log.warning("%s", lost)
    return kept_up(settings.home, settings.emulator_args, url, log.warning)


def _held_before(table: StateTable, started: float) -> int:
    """How many of `table`'s rows hold a response made before the epoch time `started`."""
    import pyarrow as pa  # a run's alone: commands that import this module to key a cancel need none
    import pyarrow.compute as pc

    made = table.columns(HOLDING_TOKEN, ("submitted_at",)).column("submitted_at")
    before: Any = pc.less(made, pa.scalar(datetime.fromtimestamp(started, UTC), made.type))
    counted: int | None = pc.sum(before.cast("int64")).as_py()
    return counted or 0
