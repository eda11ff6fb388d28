"""What a row's attachment is, in the words planning (`tasks.dataset.media`) and sending (`tasks.llm`)
share: an image or a file, the kind of reference naming it, and a local one made into a data URL.

    ref_kind("https://example.com/a.png")  # "url"
    ref_kind("file-6F2ksmvXxt4VdoqmHRw6kL")  # "file_id": uploaded to the Files API
    ref_kind("/data/photos/a.png")  # "path": sent inline, read when the row is sent
"""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

__all__ = [
    "FILE_TOKENS_GUESS",
    "IMAGE_FORMATS",
    "IMAGE_TOKENS_GUESS",
    "IMAGE_TYPES",
    "Attachment",
    "MediaKind",
    "RefKind",
    "image_type",
    "inlined",
    "ref_kind",
    "tokens_guess",
]

MediaKind = Literal["image", "file"]
RefKind = Literal["url", "file_id", "path"]

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}  # fmt: skip
"""The image formats OpenAI takes, by a local file's suffix, and the media type of its data URL."""
IMAGE_FORMATS = "PNG, JPEG, GIF or WebP"
"""Those formats, as an error names them."""
IMAGE_TOKENS_GUESS = 1_600
"""Input tokens budgeted for one image before its row is sent (the rate limit's token bucket, the cost
cap's estimate); the answer's usage then says what it cost. An image's tokens depend on its size and
the model, which rowrelay does not read: 1,600 is about a 1024x1024 image on the models that count
32-pixel patches (gpt-4.1-mini: 1,024 patches x 1.62 = 1,659), twice what it is on those that count
512-pixel tiles (gpt-4.1: 765), and far below gpt-4o-mini's (whose image tokens are priced down). The
same at every detail: `low` is a fixed 85 on the tile models, but the patch models bill it as `high`."""
FILE_TOKENS_GUESS = 8_000
"""The same for one file (`--file-column`): a PDF is given to the model as each page's text and image,
about 1,000-2,000 tokens a page, so this is a few pages; a long document costs many times more."""
_FILE_ID = re.compile(r"file-[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Attachment:
    """One image or file a row sends after its prompt: a URL, a data URL, an uploaded file's id, or an
    absolute local path (made a data URL by `inlined` before the create is built)."""

    kind: MediaKind
    ref: str
    filename: str | None = None
    """A file sent inline goes with its name (the API reads its type from it); None otherwise."""
    data: bytes | None = field(default=None, repr=False, compare=False)
    """An image's bytes held in the input itself (a Parquet binary column, or a dataset's image struct),
    made a data URL as a local file is; `ref` then only describes it."""

    @property
    def held_locally(self) -> bool:
        """Whether it is read into its create (a local file, bytes from the input), not sent by name."""
        return self.data is not None or ref_kind(self.ref) == "path"

    def local_size(self) -> int:
        """The bytes it adds to its create before encoding (0 for what the server fetches)."""
        if self.data is not None:
            return len(self.data)
        return Path(self.ref).stat().st_size if ref_kind(self.ref) == "path" else 0


def ref_kind(ref: str) -> RefKind:
    """`url` (http(s) or data URL), `file_id` (an uploaded file), or `path` (a local file, absolute once
    planned): the one place a reference's kind is told, at planning and at sending."""
    if ref.startswith(("http://", "https://", "data:")):
        return "url"
    if _FILE_ID.fullmatch(ref):
        return "file_id"
    return "path"


def image_type(data: bytes) -> str | None:
    """The media type of image bytes the API takes (by their first bytes), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return "image/webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def inlined(attachment: Attachment) -> Attachment:
    """A local attachment as a base64 data URL, read now (`OSError` if it cannot be); others as they are."""
    if attachment.data is not None:
        encoded = base64.b64encode(attachment.data).decode("ascii")
        return Attachment(attachment.kind, f"data:{image_type(attachment.data)};base64,{encoded}")
    if ref_kind(attachment.ref) != "path":
        return attachment
    path = Path(attachment.ref)
    media = IMAGE_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    url = f"data:{media or 'application/octet-stream'};base64,{encoded}"
    return replace(attachment, ref=url, filename=path.name if attachment.kind == "file" else None)


def tokens_guess(attachments: tuple[Attachment, ...]) -> int:
    """The input tokens budgeted for a row's attachments before it is sent."""
    return sum(IMAGE_TOKENS_GUESS if item.kind == "image" else FILE_TOKENS_GUESS for item in attachments)
