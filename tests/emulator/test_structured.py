"""Structured Outputs: a `json_schema` text format is answered with JSON valid against the schema (the
SDK's `responses.parse` and `chat.completions.parse` read it into the Pydantic model), refused with the
service's 400 when the strict schema is out of strict mode's subset, and broken on purpose by the
`invalid_json_rate` fault; a refusal comes as a `refusal` content part."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
import openai
import pytest
from openai import AsyncOpenAI
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, Field

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from rowrelay.tasks.emulator.structured import JsonFormat, answer
from tests.emulator.contract import Spec, check_event, check_response
from tests.support.sse import raw_sse


class Step(BaseModel):
    explanation: str
    output: str


class Triage(BaseModel):
    """Every kind of field a strict schema may hold."""

    category: Literal["billing", "login", "shipping"]
    priority: int = Field(ge=1, le=4)
    score: float = Field(ge=0, le=1)
    urgent: bool
    tags: list[str] = Field(min_length=1, max_length=3)
    steps: list[Step]
    owner: Step
    note: str | None
    kind: Literal["ticket"]
    amount: int | str


SCHEMA = to_strict_json_schema(Triage)


def _format(schema: dict[str, Any], name: str = "triage", strict: bool = True) -> Any:
    return {"format": {"type": "json_schema", "name": name, "schema": schema, "strict": strict}}


async def test_responses_parse_reads_a_valid_answer_for_every_kind_of_field(
    client: AsyncOpenAI, spec: Spec
) -> None:
    nulls = 0
    for n in range(12):
        parsed = await client.responses.parse(model="gpt-4.1", input=f"Ticket {n}", text_format=Triage)
        assert isinstance(parsed.output_parsed, Triage)
        jsonschema.validate(json.loads(parsed.output_text), SCHEMA)
        nulls += parsed.output_parsed.note is None
    assert 0 < nulls < 12, "a nullable field is sometimes null, sometimes not"


async def test_a_background_structured_answer_survives_retrieve_and_echoes_its_format(
    client: AsyncOpenAI, spec: Spec
) -> None:
    created = await client.responses.create(
        model="o4-mini",
        input="Ticket 7",
        text=_format(SCHEMA),
        background=True,
    )
    while True:
        raw = await client.responses.with_raw_response.retrieve(created.id)
        body = json.loads(raw.text)
        check_response(spec, body)
        if body["status"] == "completed":
            break
    assert body["text"]["format"] == {**_format(SCHEMA)["format"]}
    message = body["output"][-1]  # after the reasoning item
    assert [part["type"] for part in message["content"]] == ["output_text"]
    Triage.model_validate_json(message["content"][0]["text"])


async def test_the_same_seed_and_input_give_the_same_json_and_another_seed_other_json() -> None:
    fmt = JsonFormat("triage", SCHEMA, True)
    digest = b"0123456789abcdef"
    assert answer(fmt, 0, digest, None) == answer(fmt, 0, digest, None)
    assert len({answer(fmt, seed, digest, None) for seed in range(6)}) > 1


async def test_a_streamed_structured_answer_is_parsed_and_its_events_follow_the_spec(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    async with client.responses.stream(model="gpt-4.1", input="Ticket 3", text_format=Triage) as stream:
        final = await stream.get_final_response()
    assert isinstance(final.output_parsed, Triage)
    body = {"model": "gpt-4.1", "input": "Ticket 3", "text": _format(SCHEMA), "stream": True}
    _, frames = await raw_sse(emulator.url, "POST", "/responses", json=body)
    for _, event in frames:
        check_event(spec, event)


async def test_chat_completions_parse_and_stream_read_a_valid_answer(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.parse(
        model="gpt-4o", messages=[{"role": "user", "content": "Ticket 5"}], response_format=Triage
    )
    assert isinstance(completion.choices[0].message.parsed, Triage)
    async with client.chat.completions.stream(
        model="gpt-4o", messages=[{"role": "user", "content": "Ticket 5"}], response_format=Triage
    ) as stream:
        streamed = await stream.get_final_completion()
    assert streamed.choices[0].message.parsed == completion.choices[0].message.parsed


NOT_CLOSED = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
NOT_ALL_REQUIRED = {
    "type": "object",
    "properties": {
        "a": {
            "type": "object",
            "properties": {"b": {"type": "string"}},
            "required": [],
            "additionalProperties": False,
        }
    },
    "required": ["a"],
    "additionalProperties": False,
}
NOT_AN_OBJECT = {"type": "array", "items": {"type": "string"}}
ALL_OF = {**to_strict_json_schema(Step), "allOf": [{"type": "object"}]}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (NOT_CLOSED, "In context=(), 'additionalProperties' is required to be supplied and to be false."),
        (
            NOT_ALL_REQUIRED,
            "In context=('properties', 'a'), 'required' is required to be supplied and to be an array "
            "including every key in properties. Missing 'b'.",
        ),
        (NOT_AN_OBJECT, "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"array\"'."),
        (ALL_OF, "In context=(), 'allOf' is not permitted."),
    ],
)
async def test_a_strict_schema_outside_the_subset_is_refused_as_the_service_refuses_it(
    client: AsyncOpenAI, schema: dict[str, Any], message: str
) -> None:
    expected = f"Invalid schema for response_format 'triage': {message}"
    with pytest.raises(openai.BadRequestError) as refused:
        await client.responses.create(model="gpt-4.1", input="x", text=_format(schema))
    assert refused.value.body == {
        "message": expected,
        "type": "invalid_request_error",
        "param": "text.format.schema",
        "code": "invalid_json_schema",
    }
    chat_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "triage", "schema": schema, "strict": True},
    }
    with pytest.raises(openai.BadRequestError) as chat_refused:
        await client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "x"}],
            response_format=chat_format,
        )
    assert chat_refused.value.body == {
        "message": expected,
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }
    # Without strict, the service takes any schema (and promises less).
    loose = await client.responses.create(model="gpt-4.1", input="x", text=_format(schema, strict=False))
    assert loose.status == "completed"


async def test_a_format_without_a_name_is_refused(client: AsyncOpenAI) -> None:
    text: Any = {"format": {"type": "json_schema", "schema": SCHEMA, "strict": True}}
    with pytest.raises(openai.BadRequestError) as refused:
        await client.responses.create(model="gpt-4.1", input="x", text=text)
    assert refused.value.param == "text.format.name"
    assert refused.value.code == "missing_required_parameter"


async def test_the_invalid_json_fault_breaks_the_json_or_the_schema(client: AsyncOpenAI) -> None:
    async def text_of(fault: str) -> str:
        response = await client.responses.create(
            model="gpt-4.1",
            input="Ticket 9",
            text=_format(SCHEMA),
            extra_headers={"x-emulator-fault": fault},
        )
        return response.output_text

    with pytest.raises(json.JSONDecodeError):
        json.loads(await text_of("invalid-json=broken"))
    mismatched = json.loads(await text_of("invalid-json=mismatch"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(mismatched, SCHEMA)


def test_the_invalid_json_rate_breaks_that_share_and_a_retry_draws_again() -> None:
    config = EmulatorConfig(invalid_json_rate=0.5)
    with running_emulator(config) as emu:
        client = openai.OpenAI(base_url=emu.url, api_key="x", max_retries=0)
        verdicts = []
        for n in range(40):
            text = client.responses.create(
                model="gpt-4.1", input=f"Ticket {n}", text=_format(SCHEMA)
            ).output_text
            verdicts.append(_valid(text))
        assert 8 < verdicts.count(False) < 32, verdicts
        first_bad = verdicts.index(False)
        retried = [
            _valid(
                client.responses.create(
                    model="gpt-4.1",
                    input=f"Ticket {first_bad}",
                    text=_format(SCHEMA),
                ).output_text
            )
            for _ in range(6)
        ]
        assert True in retried, "the same request sent again draws its fault again"
        client.close()


def _valid(text: str) -> bool:
    try:
        jsonschema.validate(json.loads(text), SCHEMA)
    except (json.JSONDecodeError, jsonschema.ValidationError):
        return False
    return True


async def test_a_refusal_is_a_refusal_part_polled_and_streamed(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    refused = await client.responses.parse(
        model="gpt-4.1", input="x", text_format=Triage, extra_headers={"x-emulator-fault": "refusal"}
    )
    assert refused.output_parsed is None
    message = refused.output[-1]
    assert message.type == "message"
    assert [part.type for part in message.content] == ["refusal"]
    body = {"model": "gpt-4.1", "input": "x", "text": _format(SCHEMA), "stream": True}
    _, frames = await raw_sse(
        emulator.url, "POST", "/responses", json=body, headers={"x-emulator-fault": "refusal"}
    )
    events = [event for _, event in frames]
    for event in events:
        check_event(spec, event)
    kinds = [event["type"] for event in events]
    assert "response.refusal.done" in kinds
    assert "response.output_text.delta" not in kinds
    chat = await client.chat.completions.parse(
        model="gpt-4o",
        messages=[{"role": "user", "content": "x"}],
        response_format=Triage,
        extra_headers={"x-emulator-fault": "refusal"},
    )
    assert chat.choices[0].message.refusal
    assert chat.choices[0].message.parsed is None


NODE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "minLength": 12, "maxLength": 20},
        "children": {"type": "array", "items": {"$ref": "#"}},
    },
    "required": ["label", "children"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        {"type": "integer", "minimum": -40, "maximum": -30},
        {"type": "number", "multipleOf": 0.25, "minimum": 1, "maximum": 2},
        {"type": "integer", "maximum": -5},
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "email"},
        {"type": "string", "format": "uuid"},
        {"type": ["string", "null"], "maxLength": 3},
        {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 2},
        {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/flag"}, {"type": "null"}]},
        NODE,
    ],
)
def test_drawn_values_are_valid_for_every_supported_keyword(schema: dict[str, Any]) -> None:
    root = {
        "type": "object",
        "properties": {"value": schema},
        "required": ["value"],
        "additionalProperties": False,
        "$defs": {"flag": {"type": "boolean"}},
    }
    if schema is NODE:
        root = NODE
    fmt = JsonFormat("x", root, True)
    checker = jsonschema.FormatChecker()
    for n in range(30):
        value = json.loads(answer(fmt, n, b"digest-%d" % n, None))
        jsonschema.validate(value, root, format_checker=checker)
