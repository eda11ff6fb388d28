"""What a row's image reference is, in the words planning (`tasks.dataset.images`) and sending
(`tasks.llm`) share: its kind, the formats the API takes, and a local file made into a data URL.

    image_kind("https://example.com/a.png")  # "url"
    image_kind("file-6F2ksmvXxt4VdoqmHRw6kL")  # "file_id"
    image_kind("/data/photos/a.png")  # "path": sent inline, read when the row is sent
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Literal

__all__ = ["IMAGE_TOKENS_GUESS", "IMAGE_TYPES", "ImageKind", "image_kind", "inlined"]

ImageKind = Literal["url", "file_id", "path"]

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}  # fmt: skip
"""The image formats OpenAI takes, by a local file's suffix, and the media type of its data URL."""


IMAGE_TOKENS_GUESS = 1_600
"""Input tokens budgeted for one image before its row is sent (the rate limit's token bucket, the cost
cap's estimate); the answer's usage then says what it cost. An image's tokens depend on its size and
the model, which rowrelay does not read: 1,600 is about a 1024x1024 image on the models that count
32-pixel patches (gpt-4.1-mini: 1,024 patches x 1.62 = 1,659), twice what it is on those that count
512-pixel tiles (gpt-4.1: 765), and far below gpt-4o-mini's (whose image tokens are priced down). The
same at every detail: `low` is a fixed 85 on the tile models, but the patch models bill it as `high`."""
_FILE_ID = re.compile(r"file-[A-Za-z0-9_-]+")


def image_kind(ref: str) -> ImageKind:
    """`url` (http(s) or data URL, sent as `image_url`), `file_id` (an uploaded file), or `path` (a local
    file, absolute once planned): the one place a reference's kind is told, at planning and sending."""
    if ref.startswith(("http://", "https://", "data:")):
        return "url"
    if _FILE_ID.fullmatch(ref):
        return "file_id"
    return "path"


def inlined(path: str) -> str:
    """A local image as a base64 data URL, read now (`OSError` if it cannot be)."""
    data = Path(path).read_bytes()
    media = IMAGE_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")
    return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
