"""What a run asks of a row otherwise than its batch's last run: the model, the options that shape an
answer, the output schema, the tools, the agent, and how rows are keyed.

Two checks ask it before anything is sent: a resume (`same_server.check_same_requests`), which refuses a
run whose answers would sit beside the last run's with nothing telling them apart, and a first run under a
default state (`earlier_batches`), which looks for an earlier batch of the same input asking the same. Each
change is said with the way it was (`--model b (it ran --model a)`, from Python `model='b' (it ran
model='a')`), so a refusal names both.
"""

from __future__ import annotations

from typing import Any

from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.hosted_tools import tool_list
from rowrelay.tasks.setting_problems import given_as, one_of, option_of
from rowrelay.tasks.state.run_record import RunRecord

__all__ = ["changes_from", "key_change"]


def key_change(request: BatchRequest, record: RunRecord) -> str | None:
    """How this run keys its rows otherwise than the batch's last run (`--id-column id (it ran without
    one)`), or None: the same, or a record from before keys were recorded."""
    if "id_column" not in record.spec:
        return None
    was, now = record.spec["id_column"], request.spec.id_column
    if was == now:
        return None
    keyed = option_of("id_column")
    given = f"by {_said('id_column', now)}" if now is not None else f"by their contents (no {keyed})"
    return f"{given} (it ran {_said('id_column', was) or 'without one'})"


def _said(name: str, value: str | float | None) -> str | None:
    """The option `name` with `value` as its caller gives it (`--model a`, `--temperature 0.2`, from
    Python `model='a'`, `temperature=0.2`), or None for no value."""
    if value is None:
        return None
    return given_as(name, f"{value:g}") if isinstance(value, int | float) else one_of(name, (value,))


def changes_from(request: BatchRequest, record: RunRecord) -> list[str]:
    """What this run asks of a row that the batch's last run did not, each with the way it was."""
    changes = []
    # A run over endpoints sent each endpoint's rows to its own model (or deployment), else the run's.
    models = sorted({str(entry.get("model") or record.model) for entry in record.endpoints or [{}]})
    if request.settings.model not in models:
        changes.append(f"{_said('model', request.settings.model)} (it ran {one_of('model', models)})")
    settings = request.settings
    asked = (
        ("reasoning_effort", settings.reasoning_effort, record.reasoning_effort),
        ("temperature", settings.temperature, record.temperature),
        ("image_detail", settings.image_detail, record.image_detail),
    )
    for name, value, recorded in asked:
        # The temperature was an option before run.json recorded it: a record from then cannot say which
        # its answers were given at. (The others were recorded from the start: absent, none was asked.)
        if value != recorded and not (name == "temperature" and "temperature" in record.unrecorded):
            was = _said(name, recorded) or "without one"
            changes.append(f"{_said(name, value) or 'no ' + option_of(name)} (it ran {was})")
    schema = request.output_schema
    if (None if schema is None else schema.schema) != record.output_schema:
        if schema is None:
            changes.append(f"no {option_of('output_schema', '--schema')} (it asked for structured outputs)")
        else:
            had = "another schema" if record.output_schema else "none"
            changes.append(f"{given_as('output_schema', str(schema.source), '--schema')} (it had {had})")
    tools = list(tool_list(request.settings.tools)) or None
    if tools != record.tools:
        now = f"no {option_of('tools')}" if tools is None else one_of("tools", (_tool_types(tools),))
        was = "without tools" if record.tools is None else one_of("tools", (_tool_types(record.tools),))
        if tools and record.tools and _tool_types(tools) == _tool_types(record.tools):
            was += " set otherwise"
        changes.append(f"{now} (it ran {was})")
    if request.agent != record.agent:
        now = f"no {option_of('agent')}" if request.agent is None else one_of("agent", (request.agent,))
        changes.append(f"{now} (it ran {_said('agent', record.agent) or 'no agent'})")
    return changes


def _tool_types(tools: list[dict[str, Any]]) -> str:
    return ",".join(str(tool.get("type")) for tool in tools)
