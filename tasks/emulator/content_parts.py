"""A create's message content parts beyond text: images and files, refused, downloaded and billed as
OpenAI does, on the Responses API (and its Azure routes) and on Chat Completions.

The refusals are the service's 400s, with the `param` path of the part (`input[0].content[1].image_url`,
`messages[0].content[1].image_url.url`) and its code. The evidence for each wording is cited where it is
raised: real error bodies quoted in public issues and code, and the tests of a gateway that mirrors
native Responses errors it probed (github.com/Menci/Floway, its image-generation shim). The shape of
every part is checked before any download, so a malformed part is refused even beside an unreachable
one; what cannot be downloaded is refused before the context window is measured (the service needs the
image to count it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, NoReturn

from rowrelay.tasks.emulator.images import (
    ASSUMED_SIZE,
    decode,
    file_tokens,
    image_dimensions,
    image_size,
    image_tokens,
    is_web_url,
    parse_data_url,
    unreachable,
)
from rowrelay.tasks.emulator.refusals import (
    BadRequest,
    check_choice,
    check_typed_object,
    invalid_type,
    missing,
)

Route = Literal["responses", "chat"]
PART_TYPES = (
    "input_text", "input_image", "output_text", "refusal", "input_file", "computer_screenshot",
    "summary_text", "encrypted_content",
)  # fmt: skip
"""What a Responses message part may be, in the order the 400 lists them (a production body of
2026-08-05: "Invalid value: 'input_audio'. Supported values are: 'input_text', ..., and
'encrypted_content'.", param `input[0].content[0].type`, code `invalid_value`)."""
CHAT_PART_TYPES = ("text", "image_url", "input_audio", "refusal", "audio", "file")
"""What a chat message part may be, in the 400's order ("Invalid value: 'tool_result'. Supported values
are: 'text', 'image_url', 'input_audio', 'refusal', 'audio', and 'file'.")."""
IMAGE_DETAILS = ("low", "high", "auto", "original")  # the spec's ImageDetail
CHAT_IMAGE_DETAILS = ("auto", "low", "high")  # the spec's image_url.detail
FILE_DETAILS = ("auto", "low", "high")  # the spec's FileInputDetail
_EXAMPLE = "(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU=')"
INVALID_IMAGE = (
    "The image data you provided does not represent a valid image. Please check your input and try again."
)
"""Responses, bytes that are no PNG, JPEG, GIF or WebP image: param `input`, code `invalid_value` (a
production body of 2026-08-30, quoted verbatim in a public test; openai/codex matches this sentence)."""
UNSUPPORTED_IMAGE = (
    "You uploaded an unsupported image. Please make sure your image has of one the following formats: "
    "['png', 'jpeg', 'gif', 'webp']."
)
"""Chat Completions, the same: no param, code `invalid_image_format` (bodies quoted in public repos)."""


def message_parts(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each content part of each message, with its param path: a Responses `input` item's
    (`input[i].content[j]`) or a chat message's (`messages[i].content[j]`)."""
    key = "messages" if "messages" in body else "input"
    items = body.get(key)
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            continue
        content = item.get("content")
        for j, part in enumerate(content if isinstance(content, list) else []):
            yield f"{key}[{i}].content[{j}]", part


def check_parts(body: dict[str, Any], route: Route) -> None:
    """Refuse a malformed part, then a part whose image or file cannot be downloaded."""
    parts = list(message_parts(body))
    for path, part in parts:
        _check_part(path, part, route)
    for _, part in parts:
        _check_download(part)


def media_tokens(body: dict[str, Any]) -> int:
    """The input tokens of a checked create's images and files, on its model (images.py)."""
    model = str(body.get("model") or "")
    total = 0
    for _, part in message_parts(body):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "input_image":
            url = part.get("image_url")
            size = image_size(url) if isinstance(url, str) else ASSUMED_SIZE
            total += image_tokens(model, *size, str(part.get("detail") or "auto"))
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            url = part["image_url"].get("url")
            size = image_size(url) if isinstance(url, str) else ASSUMED_SIZE
            total += image_tokens(model, *size, str(part["image_url"].get("detail") or "auto"))
        elif kind in ("input_file", "file"):
            fields = part.get("file") if kind == "file" else part
            data = fields.get("file_data") if isinstance(fields, dict) else None
            total += file_tokens(model, _file_bytes(data) if isinstance(data, str) else None)
    return total


def as_listed(part: Any) -> Any:
    """A part as the input items listing shows it: as sent, an image's unsent fields at their defaults
    (the spec's `InputImageContent` requires `detail`; `image_url` and `file_id` are nullable)."""
    if isinstance(part, dict) and part.get("type") == "input_image":
        return {"image_url": None, "file_id": None, **part, "detail": part.get("detail") or "auto"}
    return part


def _check_part(path: str, part: Any, route: Route) -> None:
    check_typed_object(part, path, PART_TYPES if route == "responses" else CHAT_PART_TYPES)
    if part["type"] in ("input_text", "text"):
        _string(part, "text", path, required=True)
    elif part["type"] == "input_image":
        _check_input_image(path, part)
    elif part["type"] == "image_url":
        _check_chat_image(path, part)
    elif part["type"] == "input_file":
        _check_input_file(path, part)
    elif part["type"] == "file":
        _check_chat_file(path, part)


def _check_input_image(path: str, part: dict[str, Any]) -> None:
    """Exactly one of `image_url` and `file_id` (the service's words, mirrored by Floway's tests:
    "Missing mutually exclusive parameters: 'input[0].content[0]'. Ensure you are providing exactly one
    of: 'file_id' or 'image_url'.", code `missing_mutually_exclusive_parameters`). Any file id is taken as
    an uploaded image: the emulator has no Files API."""
    check_choice(part.get("detail"), f"{path}.detail", IMAGE_DETAILS, IMAGE_DETAILS)
    url, file_id = _string(part, "image_url", path), _string(part, "file_id", path)
    if url and file_id:
        raise BadRequest(
            f"Mutually exclusive parameters: '{path}'. Ensure you are only providing one of: 'file_id' or "
            "'image_url'.",
            path,
            "mutually_exclusive_parameters",
        )
    if not url and not file_id:
        raise BadRequest(
            f"Missing mutually exclusive parameters: '{path}'. Ensure you are providing exactly one of: "
            "'file_id' or 'image_url'.",
            path,
            "missing_mutually_exclusive_parameters",
        )
    if url:
        _check_image_url(url, f"{path}.image_url", "responses")


def _check_chat_image(path: str, part: dict[str, Any]) -> None:
    image = _object(part, "image_url", path)
    _string(image, "url", f"{path}.image_url", required=True)
    detail = f"{path}.image_url.detail"
    check_choice(image.get("detail"), detail, CHAT_IMAGE_DETAILS, CHAT_IMAGE_DETAILS)
    _check_image_url(image["url"], f"{path}.image_url.url", "chat")


def _check_image_url(url: str, param: str, route: Route) -> None:
    """An http(s) URL, or a base64 data URL of a PNG, JPEG, GIF or WebP image.

    Neither: on Responses "Invalid 'input[0].content[1].image_url'. Expected a valid URL, but got a value
    with an invalid format." (a body quoted in a public test, code `invalid_value`); on Chat Completions
    "Invalid image URL: 'messages[0].content[1].image_url.url'. Expected a base64-encoded data URL with an
    image MIME type (e.g. ...), but got a value without the 'data:' prefix." (github.com/Alibaba-NLP/
    OmniSearch/issues/3, code `invalid_value`). A data URL that is not of an image MIME type, not base64,
    or empty gets the same sentence with what it got instead: "unsupported MIME type 'application/pdf'"
    (an Azure OpenAI chat body quoted in a public repo), "a value without the ';base64' separator", "an
    invalid base64-encoded value", "empty base64-encoded bytes" (Responses bodies quoted in public tests
    and notes, code `invalid_value`; on Chat Completions these three are the Responses wording under the
    chat prefix, unverified: older chat bodies read "Invalid base64 image_url.", code `invalid_base64`)."""
    if is_web_url(url):
        return
    parsed = parse_data_url(url) if url.lower().startswith("data:") else None
    if parsed is None:
        if route == "responses":
            raise BadRequest(
                f"Invalid '{param}'. Expected a valid URL, but got a value with an invalid format.",
                param,
                "invalid_value",
            )
        _bad_data_url(param, route, "a value without the 'data:' prefix")
    elif not parsed.mime.lower().startswith("image/"):
        _bad_data_url(param, route, f"unsupported MIME type '{parsed.mime}'")
    elif not parsed.base64:
        _bad_data_url(param, route, "a value without the ';base64' separator")
    data = decode(parsed.payload)
    if data is None:
        _bad_data_url(param, route, "an invalid base64-encoded value")
    elif not data:
        _bad_data_url(param, route, "empty base64-encoded bytes")
    elif image_dimensions(data) is None:
        if route == "responses":
            raise BadRequest(INVALID_IMAGE, "input", "invalid_value")
        raise BadRequest(UNSUPPORTED_IMAGE, None, "invalid_image_format")


def _bad_data_url(param: str, route: Route, got: str) -> NoReturn:
    prefix = f"Invalid '{param}'" if route == "responses" else f"Invalid image URL: '{param}'"
    raise BadRequest(
        f"{prefix}. Expected a base64-encoded data URL with an image MIME type {_EXAMPLE}, but got {got}.",
        param,
        "invalid_value",
    )


def _check_input_file(path: str, part: dict[str, Any]) -> None:
    """One of `file_id`, `file_url` and `file_data`, and a `filename` with `file_data`: without it the
    service names the part itself ("Missing required parameter: 'input[1].content[1]'.",
    github.com/laravel/ai/issues/321). A part with no source at all gets the same 400 here (unverified)."""
    check_choice(part.get("detail"), f"{path}.detail", FILE_DETAILS, FILE_DETAILS)
    file_id, url = _string(part, "file_id", path), _string(part, "file_url", path)
    data, filename = _string(part, "file_data", path), _string(part, "filename", path)
    if not (file_id or url or data) or (data and not filename):
        raise BadRequest(f"Missing required parameter: '{path}'.", path, "missing_required_parameter")
    if url and not is_web_url(url):
        param = f"{path}.file_url"
        raise BadRequest(
            f"Invalid '{param}'. Expected a valid URL, but got a value with an invalid format.",
            param,
            "invalid_value",
        )


def _check_chat_file(path: str, part: dict[str, Any]) -> None:
    """A `file_id`, or `file_data` with its `filename`: lacking either, the service asks for the id
    ("Missing required parameter: 'messages[1].content[1].file.file_id'.", code
    `missing_required_parameter`; github.com/openai/openai-agents-python/pull/1513)."""
    file = _object(part, "file", path)
    file_id, data = _string(file, "file_id", f"{path}.file"), _string(file, "file_data", f"{path}.file")
    if not file_id and not (data and _string(file, "filename", f"{path}.file")):
        missing(f"{path}.file.file_id")


def _check_download(part: dict[str, Any]) -> None:
    """A URL under `.invalid` fails to download. Responses: "Error while downloading file." for an image
    (bodies of 2025-26 read "Error while downloading file. Upstream status code: 404.", param `url`, code
    `invalid_value`; a host that does not resolve has no status to add), "Error while downloading <url>."
    for a file (a Responses body for a PDF's `file_url`). Chat Completions: "Error while downloading
    <url>.", no param, code `invalid_image_url` (github.com/rashadwest/Sportstechwest, workflows/BallCODE-
    Book/EXEC-91-FIX.md, December 2025)."""
    kind = part.get("type")
    if kind == "input_image" and isinstance(part.get("image_url"), str) and unreachable(part["image_url"]):
        raise BadRequest("Error while downloading file.", "url", "invalid_value")
    if kind == "input_file" and isinstance(part.get("file_url"), str) and unreachable(part["file_url"]):
        raise BadRequest(f"Error while downloading {part['file_url']}.", "url", "invalid_value")
    if kind == "image_url":
        url = part["image_url"]["url"]
        if is_web_url(url) and unreachable(url):
            raise BadRequest(f"Error while downloading {url}.", None, "invalid_image_url")


def _file_bytes(data: str) -> bytes | None:
    """A file's bytes from `file_data`: a base64 data URL, or bare base64 (Chat Completions' form)."""
    parsed = parse_data_url(data) if data.lower().startswith("data:") else None
    return decode(parsed.payload if parsed is not None else data)


def _object(part: dict[str, Any], field: str, path: str) -> dict[str, Any]:
    value = part.get(field)
    if value is None:
        missing(f"{path}.{field}")
    if not isinstance(value, dict):
        raise invalid_type(f"{path}.{field}", "an object", value)
    return value


def _string(part: dict[str, Any], field: str, path: str, *, required: bool = False) -> str | None:
    """A field that must be a string when given (and given, when `required`)."""
    value = part.get(field)
    if value is None:
        if required:
            missing(f"{path}.{field}")
        return None
    if not isinstance(value, str):
        raise invalid_type(f"{path}.{field}", "a string", value)
    return value
