"""Images and files a create sends: their bytes read as the service reads them, and their input tokens.

Pure functions of a part's fields; `content_parts.py` walks a request to them. The token formulas are
OpenAI's images-vision guide, "Calculating costs" (https://developers.openai.com/api/docs/guides/
images-vision): patch-based models cover the image with 32px patches within a budget of 1,536 (and at most
2,048 pixels a side) and multiply the count by a per-model factor; tile-based models (GPT-4o, GPT-4.1,
GPT-4o-mini, GPT-5, CUA, the o-series but o4-mini) scale the image into 2048x2048, then its shortest side
to 768, and bill base tokens plus tile tokens per 512px square, base tokens only at `detail: low`.

The emulator has no network and no Files API: an http(s) image is taken as downloadable and 1024x1024,
a `file_id` as an uploaded 1024x1024 image, except a URL whose host ends in `.invalid` (RFC 2606), which
cannot be downloaded, so a test can give one row a bad image.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import imagesize  # type: ignore[import-untyped]  # ships no type information

ASSUMED_SIZE = (1024, 1024)
"""The width and height of an image the emulator cannot see: an http(s) URL or a `file_id`."""
UNREACHABLE_DOMAIN = "invalid"
"""RFC 2606's reserved top-level domain: an image or file URL under it fails to download."""
PATCH = 32
PATCH_BUDGET = 1536
PATCH_MAX_SIDE = 2048
TILE = 512
TILE_FIT = 2048
TILE_SHORT_SIDE = 768
# Per model name prefix, lower-cased, first match wins (patch models before the tile models whose names
# they extend: gpt-4.1-mini before gpt-4.1, gpt-5-mini before gpt-5).
_PATCH_MULTIPLIERS: tuple[tuple[str, int], ...] = (
    ("gpt-5.4-mini", 162), ("gpt-5.4-nano", 246), ("gpt-5-mini", 162), ("gpt-5-nano", 246),
    ("gpt-4.1-mini", 162), ("gpt-4.1-nano", 246), ("o4-mini", 172),
)  # fmt: skip
"""The guide's multipliers, in hundredths (integer arithmetic: 100 x 1.62 is 162 tokens, not 163)."""
_TILE_TOKENS: tuple[tuple[str, int, int], ...] = (
    ("gpt-5", 70, 140), ("gpt-4o-mini", 2833, 5667), ("gpt-4o", 85, 170), ("gpt-4.1", 85, 170),
    ("gpt-4.5", 85, 170), ("o1", 75, 150), ("o3", 75, 150), ("computer-use-preview", 65, 129),
)  # fmt: skip
"""Base and tile tokens (the guide's table); any other model is billed as gpt-4o."""
_DEFAULT_TILE = (85, 170)
_SIZE_PREFIX = 65_536
"""Base64 characters decoded to find an image's size: its header, unless metadata comes first."""
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


@dataclass(frozen=True, slots=True)
class DataUrl:
    """`data:<mime>[;...][;base64],<payload>`, split at its first comma."""

    mime: str
    base64: bool
    payload: str


def parse_data_url(url: str) -> DataUrl | None:
    """The parts of a `data:` URL, or None when it has no comma (nothing to decode)."""
    header, comma, payload = url[len("data:") :].partition(",")
    if not comma:
        return None
    return DataUrl(header.split(";", 1)[0].strip(), header.lower().endswith(";base64"), payload)


def decode(payload: str) -> bytes | None:
    """Strict base64 (the standard alphabet, padded); None when it is not."""
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host: the kind the service downloads."""
    if not url.lower().startswith(("http://", "https://")):
        return False
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:  # a malformed port or IPv6 literal
        return False


def unreachable(url: str) -> bool:
    """Whether downloading `url` fails: its host is under the reserved `.invalid` domain."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    return host == UNREACHABLE_DOMAIN or host.endswith("." + UNREACHABLE_DOMAIN)


def image_format(data: bytes) -> str | None:
    """`png`, `jpeg`, `gif` or `webp` when the bytes begin as one (the formats the service takes)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return "webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, JPEG, GIF or WebP image from its header; None when unreadable."""
    if image_format(data) is None:
        return None
    width, height = imagesize.get(io.BytesIO(data))
    return (int(width), int(height)) if width > 0 and height > 0 else None


def image_size(url: str | None) -> tuple[int, int]:
    """What an image part is billed at: a data URL's own size, any other source's assumed one."""
    if url is None or not url.lower().startswith("data:"):
        return ASSUMED_SIZE
    parsed = parse_data_url(url)
    if parsed is None:
        return ASSUMED_SIZE
    head = parsed.payload[:_SIZE_PREFIX]
    for payload in (head, parsed.payload) if len(head) < len(parsed.payload) else (head,):
        data = decode(payload)
        size = None if data is None else image_dimensions(data)
        if size is not None:
            return size
    return ASSUMED_SIZE


def image_tokens(model: str, width: int, height: int, detail: str) -> int:
    """An image's input tokens on `model` at `detail` (`low`, `high`, `auto`, `original`).

    Patch models ignore `detail` (measured: a low-detail image costs what a high one does on them,
    community.openai.com/t/1262691); on tile models `low` is the base tokens alone, and `auto` and
    `original` are billed as `high`."""
    name = model.lower()
    multiplier = next((factor for prefix, factor in _PATCH_MULTIPLIERS if name.startswith(prefix)), None)
    if multiplier is not None:
        return -(-patches(width, height) * multiplier // 100)
    base, tile = next(((b, t) for prefix, b, t in _TILE_TOKENS if name.startswith(prefix)), _DEFAULT_TILE)
    return base if detail == "low" else base + tile * tiles(width, height)


def patches(width: int, height: int) -> int:
    """32px patches covering the image once it fits 2,048 pixels a side and the 1,536-patch budget.

    The guide's steps: shrink by `sqrt(32² x budget / (w x h))`, then a little more so each side fits a
    whole number of patches, then cover the integer dimensions (1800x2400: 1056x1408, 33 x 44 = 1452)."""
    if max(width, height) > PATCH_MAX_SIDE:
        scale = PATCH_MAX_SIDE / max(width, height)
        width, height = max(1, int(width * scale)), max(1, int(height * scale))
    if _cover(width, PATCH) * _cover(height, PATCH) > PATCH_BUDGET:
        shrink = math.sqrt(PATCH * PATCH * PATCH_BUDGET / (width * height))
        across, down = width * shrink / PATCH, height * shrink / PATCH
        shrink *= min(math.floor(across) / across, math.floor(down) / down)
        # Each side is now a whole number of patches up to rounding: flooring keeps it in that number.
        width, height = max(1, int(width * shrink)), max(1, int(height * shrink))
    return min(PATCH_BUDGET, _cover(width, PATCH) * _cover(height, PATCH))


def tiles(width: int, height: int) -> int:
    """512px tiles covering the image scaled into 2048x2048, then to a shortest side of 768 (never up)."""
    if max(width, height) > TILE_FIT:
        scale = TILE_FIT / max(width, height)
        width, height = max(1, int(width * scale)), max(1, int(height * scale))
    if min(width, height) > TILE_SHORT_SIDE:
        scale = TILE_SHORT_SIDE / min(width, height)
        width, height = max(1, int(width * scale)), max(1, int(height * scale))
    return _cover(width, TILE) * _cover(height, TILE)


def _cover(length: int, step: int) -> int:
    return -(-length // step)


def file_tokens(model: str, data: bytes | None) -> int:
    """A file input's tokens: a guess, since the emulator reads no documents. The service gives the model
    each PDF page's text and an image of it (the file inputs guide); each page is billed here as one
    1024x1024 image on `model`. The pages of PDF bytes are counted by their page objects; a file the
    emulator cannot see (a `file_id`, a URL) or bytes without pages count as one page."""
    pages = len(_PDF_PAGE.findall(data)) if data is not None else 0
    return max(1, pages) * image_tokens(model, *ASSUMED_SIZE, "high")
