"""A row's prompt and its images and files as the one user message an Agent Framework agent runs on.

AF writes each `Content` as the Responses API's part: an image's URL or data URL as `input_image` (with
its detail), a file's as `input_file` (`file_url`, or `file_data` with its name), an uploaded file as
`input_file` by id. AF would send an image given by file id as a file, so such a row is refused, unsent.
"""

from __future__ import annotations

import mimetypes
from urllib.parse import urlsplit

from agent_framework import Content, Message

from rowrelay.tasks.llm.calls import RequestRejectedError, RowRequest
from rowrelay.tasks.media_refs import Attachment, ref_kind

__all__ = ["agent_input"]


def agent_input(request: RowRequest) -> str | Message:
    """The prompt alone, or a user message of the prompt and then each attachment."""
    if not request.attachments:
        return request.prompt
    contents = [Content.from_text(request.prompt)] if request.prompt.strip() else []
    for item in request.attachments:
        if ref_kind(item.ref) == "file_id":
            if item.kind == "image":
                raise RequestRejectedError(
                    f"image {item.ref!r}: an agent takes images as URLs or local files, not uploaded file ids"
                )
            contents.append(Content.from_hosted_file(item.ref))
            continue
        # The part's type is said outright, so a URL's media type (a guess; AF does not send it) decides
        # nothing: AF wants one all the same.
        part = {"openai_content_type": "input_image", "detail": request.image_detail or "auto"}
        if item.kind == "file":
            part = {"openai_content_type": "input_file"}
        contents.append(
            Content.from_uri(
                item.ref, media_type=_media_type(item), name=item.filename, additional_properties=part
            )
        )
    return Message("user", contents)


def _media_type(item: Attachment) -> str:
    if item.ref.startswith("data:"):
        return item.ref[5 : item.ref.index(";")] if ";" in item.ref else "application/octet-stream"
    guessed = mimetypes.guess_type(urlsplit(item.ref).path)[0]
    return guessed or ("image/png" if item.kind == "image" else "application/octet-stream")
