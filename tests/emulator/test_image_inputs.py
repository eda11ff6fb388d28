"""Image and file inputs: content parts are refused as OpenAI refuses them (on the Responses API, its Azure
routes and Chat Completions), an image's input tokens follow OpenAI's formulas in every count (usage, the
TPM charge, the context window), and the input items listing shows the parts as sent.

Images are made of bytes here (a PNG or GIF header, a JPEG's SOF segment): the emulator reads only a
header, as the `imagesize` library does."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any, Literal

import openai
import pytest
from openai import AsyncOpenAI
from openai.types.responses import ResponseInputFile, ResponseInputImage, ResponseInputMessageItem

from rowrelay.tasks.emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.emulator.contract import Spec
from tests.support.clock import ManualClock
from tests.support.emulator_checks import PROMPT, azure_client, check_nothing_started, check_refusal
from tests.support.sse import ClientFactory


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def jpeg(width: int, height: int) -> bytes:
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame + b"\xff\xd9"


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n"
    b"3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n4 0 obj << /Type /Page /Parent 2 0 R >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
"""A two-page PDF (its page objects are all the emulator reads)."""
PDF_URL = data_url(PDF, "application/pdf")
WEB_IMAGE = "https://images.example.com/receipt.png"
UNREACHABLE = "https://images.example.invalid/receipt.png"
BITMAP = b"BM" + struct.pack("<IHHI", 58, 0, 0, 54) + struct.pack("<IiiHH", 40, 1, 1, 1, 24) + bytes(28)
"""A 1x1 BMP: an image, but not of a format the service takes."""


def user(*parts: Any) -> list[Any]:
    """One user message: the prompt's text part, then `parts` (so the first is `content[1]`)."""
    return [{"role": "user", "content": [{"type": "input_text", "text": PROMPT}, *parts]}]


def chat_user(*parts: Any) -> list[Any]:
    return [{"role": "user", "content": [{"type": "text", "text": PROMPT}, *parts]}]


@pytest.fixture
async def azure(emulator: RunningEmulator) -> AsyncIterator[openai.AsyncAzureOpenAI]:
    """The SDK's Azure client of the test's emulator (its Responses routes under `/openai`)."""
    async with azure_client(emulator.url.removesuffix("/v1"), api_key="k") as client:
        yield client


Route = Literal["v1", "azure"]


async def refused(
    client: AsyncOpenAI, azure: openai.AsyncAzureOpenAI, route: Route, items: list[Any]
) -> openai.BadRequestError:
    """The 400 a background create of `items` gets on the OpenAI (`v1`) or Azure route."""
    creator = client if route == "v1" else azure
    with pytest.raises(openai.BadRequestError) as caught:
        await creator.responses.create(model="gpt-4.1", input=items, background=True)
    return caught.value


# --- refusals: Responses (and its Azure routes) --------------------------------------------------

AT = "input[0].content[1]"
MISSING_SOURCE = (
    f"Missing mutually exclusive parameters: '{AT}'. Ensure you are providing exactly one of: 'file_id' or "
    "'image_url'."
)
BOTH_SOURCES = (
    f"Mutually exclusive parameters: '{AT}'. Ensure you are only providing one of: 'file_id' or 'image_url'."
)
NOT_A_URL = f"Invalid '{AT}.image_url'. Expected a valid URL, but got a value with an invalid format."
EXPECTED_DATA = (
    f"Invalid '{AT}.image_url'. Expected a base64-encoded data URL with an image MIME type "
    "(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got "
)
NOT_AN_IMAGE = (
    "The image data you provided does not represent a valid image. Please check your input and try again."
)
PART_TYPES = (
    "'input_text', 'input_image', 'output_text', 'refusal', 'input_file', 'computer_screenshot', "
    "'summary_text', and 'encrypted_content'"
)
IMAGE = {"type": "input_image", "image_url": WEB_IMAGE}
REFUSALS = {
    "no-source": ({"type": "input_image", "detail": "low"}, AT, "missing_mutually_exclusive_parameters",
                  MISSING_SOURCE),
    "both-sources": ({**IMAGE, "file_id": "file-abc"}, AT, "mutually_exclusive_parameters", BOTH_SOURCES),
    "ftp-url": ({"type": "input_image", "image_url": "ftp://example.com/a.png"}, f"{AT}.image_url",
                "invalid_value", NOT_A_URL),
    "bare-base64": ({"type": "input_image", "image_url": base64.b64encode(png(8, 8)).decode()},
                    f"{AT}.image_url", "invalid_value", NOT_A_URL),
    "pdf-data-url": ({"type": "input_image", "image_url": PDF_URL}, f"{AT}.image_url",
                     "invalid_value", EXPECTED_DATA + "unsupported MIME type 'application/pdf'."),
    "no-base64-marker": ({"type": "input_image", "image_url": "data:image/png,abc"}, f"{AT}.image_url",
                         "invalid_value", EXPECTED_DATA + "a value without the ';base64' separator."),
    "bad-base64": ({"type": "input_image", "image_url": "data:image/png;base64,@@@@"}, f"{AT}.image_url",
                   "invalid_value", EXPECTED_DATA + "an invalid base64-encoded value."),
    "empty-base64": ({"type": "input_image", "image_url": "data:image/png;base64,"}, f"{AT}.image_url",
                     "invalid_value", EXPECTED_DATA + "empty base64-encoded bytes."),
    "text-as-png": ({"type": "input_image", "image_url": data_url(b"not an image at all")}, "input",
                    "invalid_value", NOT_AN_IMAGE),
    "bmp": ({"type": "input_image", "image_url": data_url(BITMAP, "image/bmp")}, "input", "invalid_value",
            NOT_AN_IMAGE),
    "url-not-a-string": ({"type": "input_image", "image_url": 42}, f"{AT}.image_url", "invalid_type",
                         f"Invalid type for '{AT}.image_url': expected a string, but got an integer "
                         "instead."),
    "bad-detail": ({**IMAGE, "detail": "medium"}, f"{AT}.detail", "invalid_value",
                   "Invalid value: 'medium'. Supported values are: 'low', 'high', 'auto', and 'original'."),
    "unknown-part": ({"type": "input_video", "video_url": WEB_IMAGE}, f"{AT}.type", "invalid_value",
                     f"Invalid value: 'input_video'. Supported values are: {PART_TYPES}."),
    "chat-image-part": ({"type": "image_url", "image_url": {"url": WEB_IMAGE}}, f"{AT}.type", "invalid_value",
                        f"Invalid value: 'image_url'. Supported values are: {PART_TYPES}."),
    "unreachable": ({"type": "input_image", "image_url": UNREACHABLE}, "url", "invalid_value",
                    "Error while downloading file."),
    "file-no-source": ({"type": "input_file", "filename": "a.pdf"}, AT, "missing_required_parameter",
                       f"Missing required parameter: '{AT}'."),
    "file-data-no-name": ({"type": "input_file", "file_data": PDF_URL}, AT,
                          "missing_required_parameter", f"Missing required parameter: '{AT}'."),
    "file-unreachable": ({"type": "input_file", "file_url": "https://docs.example.invalid/a.pdf"}, "url",
                         "invalid_value", "Error while downloading https://docs.example.invalid/a.pdf."),
}  # fmt: skip


@pytest.mark.parametrize("route", ["v1", "azure"])
@pytest.mark.parametrize(("part", "param", "code", "message"), REFUSALS.values(), ids=REFUSALS.keys())
async def test_a_bad_image_or_file_part_is_refused_in_openais_words_and_starts_nothing(
    client: AsyncOpenAI,
    azure: openai.AsyncAzureOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    route: Route,
    part: dict[str, Any],
    param: str,
    code: str,
    message: str,
) -> None:
    check_refusal(spec, await refused(client, azure, route, user(part)), param, code, message)
    check_nothing_started(emulator)


async def test_every_part_is_checked_before_any_is_downloaded(
    client: AsyncOpenAI, azure: openai.AsyncAzureOpenAI, spec: Spec
) -> None:
    """An unreachable image beside a malformed one: the malformed one is what the 400 names."""
    parts = [{"type": "input_image", "image_url": UNREACHABLE}, {**IMAGE, "detail": "medium"}]
    message = "Invalid value: 'medium'. Supported values are: 'low', 'high', 'auto', and 'original'."
    exc = await refused(client, azure, "v1", user(*parts))
    check_refusal(spec, exc, "input[0].content[2].detail", "invalid_value", message)


# --- refusals: Chat Completions ------------------------------------------------------------------------

CHAT_AT = "messages[0].content[1]"
CHAT_EXPECTED = (
    f"Invalid image URL: '{CHAT_AT}.image_url.url'. Expected a base64-encoded data URL with an image MIME "
    "type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got "
)
CHAT_UNSUPPORTED = (
    "You uploaded an unsupported image. Please make sure your image has of one the following formats: "
    "['png', 'jpeg', 'gif', 'webp']."
)


def chat_image(url: str, **fields: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **fields}}


CHAT_REFUSALS = {
    "ftp-url": (chat_image("ftp://example.com/a.png"), f"{CHAT_AT}.image_url.url", "invalid_value",
                CHAT_EXPECTED + "a value without the 'data:' prefix."),
    "pdf-data-url": (chat_image(PDF_URL), f"{CHAT_AT}.image_url.url", "invalid_value",
                     CHAT_EXPECTED + "unsupported MIME type 'application/pdf'."),
    "text-as-png": (chat_image(data_url(b"not an image at all")), None, "invalid_image_format",
                    CHAT_UNSUPPORTED),
    "bad-detail": (chat_image(WEB_IMAGE, detail="medium"), f"{CHAT_AT}.image_url.detail", "invalid_value",
                   "Invalid value: 'medium'. Supported values are: 'auto', 'low', and 'high'."),
    "responses-part": ({"type": "input_image", "image_url": WEB_IMAGE}, f"{CHAT_AT}.type", "invalid_value",
                       "Invalid value: 'input_image'. Supported values are: 'text', 'image_url', "
                       "'input_audio', 'refusal', 'audio', and 'file'."),
    "no-url": ({"type": "image_url", "image_url": {"detail": "low"}}, f"{CHAT_AT}.image_url.url",
               "missing_required_parameter", f"Missing required parameter: '{CHAT_AT}.image_url.url'."),
    "unreachable": (chat_image(UNREACHABLE), None, "invalid_image_url",
                    f"Error while downloading {UNREACHABLE}."),
    "file-data-no-name": ({"type": "file", "file": {"file_data": PDF_URL}},
                          f"{CHAT_AT}.file.file_id", "missing_required_parameter",
                          f"Missing required parameter: '{CHAT_AT}.file.file_id'."),
}  # fmt: skip


@pytest.mark.parametrize(
    ("part", "param", "code", "message"), CHAT_REFUSALS.values(), ids=CHAT_REFUSALS.keys()
)
async def test_a_bad_chat_image_or_file_part_is_refused_in_openais_words(
    client: AsyncOpenAI,
    emulator: RunningEmulator,
    spec: Spec,
    part: dict[str, Any],
    param: str | None,
    code: str,
    message: str,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=chat_user(part))
    check_refusal(spec, caught.value, param, code, message)
    check_nothing_started(emulator)


# --- billing -----------------------------------------------------------------------------------------

# OpenAI's images-vision guide, "Calculating costs" (developers.openai.com/api/docs/guides/images-vision).
# Patch models: ceil(w/32) x ceil(h/32) patches within a 1,536 budget, times the model's multiplier
# (gpt-4.1-mini 1.62), rounded up. The guide's own examples: 1024x1024 is 32 x 32 = 1024 patches; 1800x2400
# is shrunk to 1056x1408, 33 x 44 = 1452 patches.
PATCH_1024 = -(-32 * 32 * 162 // 100)  # 1658.88 -> 1659
PATCH_1800 = -(-33 * 44 * 162 // 100)  # 2352.24 -> 2353
# Tile models: base + tiles x tile tokens after fitting 2048x2048 and a 768 shortest side; `low` is the base.
# The guide's gpt-4o examples: 1024x1024 high is 85 + 4 x 170 = 765; 2048x4096 high (768x1536) is
# 85 + 6 x 170 = 1105; 4096x8192 low is 85. gpt-4o-mini: 2833 base, 5667 a tile.
BILLED = [
    pytest.param("gpt-4.1-mini", {"image_url": data_url(png(1024, 1024))}, "auto", PATCH_1024,
                 id="patch-png"),
    pytest.param("gpt-4.1-mini", {"image_url": data_url(jpeg(1800, 2400), "image/jpeg")}, "high", PATCH_1800,
                 id="patch-jpeg-shrunk"),
    pytest.param("gpt-4.1-mini", {"image_url": data_url(png(1024, 1024))}, "low", PATCH_1024,
                 id="patch-ignores-low"),
    pytest.param("gpt-4.1-mini", {"image_url": WEB_IMAGE}, "auto", PATCH_1024, id="patch-url-is-1024"),
    pytest.param("gpt-4.1-mini", {"file_id": "file-abc"}, "auto", PATCH_1024, id="patch-file-id-is-1024"),
    pytest.param("gpt-4o", {"image_url": data_url(png(1024, 1024))}, "high", 85 + 4 * 170, id="tile-png"),
    pytest.param("gpt-4o", {"image_url": data_url(gif(2048, 4096), "image/gif")}, "auto", 85 + 6 * 170,
                 id="tile-gif-scaled"),
    pytest.param("gpt-4o", {"image_url": data_url(png(4096, 8192))}, "low", 85, id="tile-low"),
    pytest.param("gpt-4o-mini", {"file_id": "file-abc"}, "high", 2833 + 4 * 5667, id="tile-4o-mini-file-id"),
]  # fmt: skip


async def usage_of(client: AsyncOpenAI, model: str, items: list[Any]) -> int:
    response = await client.responses.create(model=model, input=items)
    assert response.usage is not None
    return response.usage.input_tokens


@pytest.mark.parametrize(("model", "source", "detail", "tokens"), BILLED)
async def test_an_image_costs_the_input_tokens_openai_documents(
    client: AsyncOpenAI, model: str, source: dict[str, str], detail: str, tokens: int
) -> None:
    text = await usage_of(client, model, user())
    image = {"type": "input_image", **source, "detail": detail}
    assert await usage_of(client, model, user(image)) == text + tokens
    assert await usage_of(client, model, user(image, image)) == text + 2 * tokens


async def test_a_file_costs_a_1024_image_a_page(client: AsyncOpenAI) -> None:
    text = await usage_of(client, "gpt-4o", user())
    pdf = {"type": "input_file", "filename": "two-pages.pdf", "file_data": PDF_URL}
    assert await usage_of(client, "gpt-4o", user(pdf)) == text + 2 * 765
    by_id = {"type": "input_file", "file_id": "file-abc"}
    assert await usage_of(client, "gpt-4o", user(by_id)) == text + 765


async def test_an_image_is_billed_on_chat_completions_and_the_azure_routes(
    client: AsyncOpenAI, azure: openai.AsyncAzureOpenAI
) -> None:
    plain = await client.chat.completions.create(model="gpt-4o", messages=chat_user())
    seen = await client.chat.completions.create(
        model="gpt-4o", messages=chat_user(chat_image(data_url(gif(2048, 4096), "image/gif")))
    )
    assert plain.usage is not None
    assert seen.usage is not None
    assert seen.usage.prompt_tokens == plain.usage.prompt_tokens + 1105
    on_azure = await azure.responses.create(model="gpt-4o", input=user({**IMAGE, "detail": "low"}))
    assert on_azure.usage is not None
    assert on_azure.usage.input_tokens == await usage_of(client, "gpt-4o", user()) + 85


async def test_images_count_against_the_context_window(client: AsyncOpenAI, spec: Spec) -> None:
    """Six high-detail 1024x1024 images on gpt-4o-mini are 6 x 25,501 = 153,006 tokens: past its 128,000."""
    plain = await client.chat.completions.create(model="gpt-4o-mini", messages=chat_user())
    assert plain.usage is not None
    images = [chat_image(WEB_IMAGE, detail="high")] * 6
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o-mini", messages=chat_user(*images))
    tokens = plain.usage.prompt_tokens + 6 * (2833 + 4 * 5667)
    message = (
        "This model's maximum context length is 128000 tokens. However, your messages resulted in "
        f"{tokens} tokens. Please reduce the length of the messages."
    )
    check_refusal(spec, caught.value, "messages", "context_length_exceeded", message)
    with pytest.raises(openai.BadRequestError) as overflow:
        await client.responses.create(model="gpt-4o-mini", input=user(*[{**IMAGE, "detail": "high"}] * 6))
    assert overflow.value.code == "context_length_exceeded"


async def test_the_tpm_bucket_is_charged_the_image_tokens(make_client: ClientFactory) -> None:
    """The clock stands still, so the charge shows in the bucket exactly: usage plus the output ceiling."""
    with running_emulator(EmulatorConfig(tpm=10_000_000), clock=ManualClock()) as running:
        client = make_client(running)
        response = await client.responses.create(
            model="gpt-4.1-mini", input=user(IMAGE), max_output_tokens=16
        )
        bucket = running.emulator.tokens
        assert response.usage is not None
        assert response.usage.input_tokens > PATCH_1024
        assert bucket.capacity - bucket.level == response.usage.input_tokens + 16


# --- what the service keeps ----------------------------------------------------------------------------


async def test_input_items_show_the_parts_as_sent(
    client: AsyncOpenAI, emulator: RunningEmulator, spec: Spec
) -> None:
    parts = [
        {"type": "input_image", "image_url": data_url(png(64, 64)), "detail": "low"},
        {"type": "input_image", "file_id": "file-abc"},
        {"type": "input_file", "file_id": "file-pdf"},
    ]
    created = await client.responses.create(model="gpt-4.1", input=user(*parts), background=True)
    raw = await client.responses.input_items.with_raw_response.list(created.id, order="asc")
    listed = raw.http_response.json()
    spec.check("ResponseItemList", listed)
    assert listed["data"][0]["content"] == [
        {"type": "input_text", "text": PROMPT},
        parts[0] | {"file_id": None},
        parts[1] | {"image_url": None, "detail": "auto"},  # the defaults the spec's InputImageContent shows
        parts[2],
    ]
    (item,) = (await client.responses.input_items.list(created.id)).data
    assert isinstance(item, ResponseInputMessageItem)
    assert [type(part) for part in item.content[1:]] == [
        ResponseInputImage,
        ResponseInputImage,
        ResponseInputFile,
    ]
    assert [job["prompt"] for job in emulator.emulator.jobs_listing()] == [PROMPT], "the row's text alone"
    first = await client.responses.create(model="gpt-4.1", input=user(parts[0]))
    second = await client.responses.create(model="gpt-4.1", input=user(parts[1]))
    assert first.output_text != second.output_text, "the answer is drawn from the images too"
