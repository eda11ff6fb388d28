"""Chat Completions: a backend with no background mode. Each row completes inside its create call,
so there is no continuation token to checkpoint; the row still walks the same state machine."""

from __future__ import annotations

from typing import Any

import openai

from rowrelay.tasks.llm.answers import nothing_named, parsed
from rowrelay.tasks.llm.calls import RequestRejectedError, RowRequest, Snapshot
from rowrelay.tasks.llm.sdk_errors import translate
from rowrelay.tasks.llm.snapshots import token_logprobs
from rowrelay.tasks.media_refs import ref_kind


class ChatBackend:
    """Rows through Chat Completions: a `ForegroundBackend`, no token, nothing to poll or cancel."""

    def __init__(self, name: str, client: openai.AsyncOpenAI) -> None:
        self.name = name
        self._client = client

    async def create(self, request: RowRequest) -> Snapshot:
        messages: list[dict[str, Any]] = []
        if request.instructions:
            messages.append({"role": "system", "content": request.instructions})
        messages.append({"role": "user", "content": _content(request)})
        response_format: Any = openai.omit
        if request.text_format is not None:  # the Responses format, in Chat Completions' envelope
            fields = {k: v for k, v in request.text_format.items() if k != "type"}
            response_format = {"type": "json_schema", "json_schema": fields}
        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=request.model,
                messages=messages,  # type: ignore[arg-type]
                max_completion_tokens=request.max_output_tokens,
                response_format=response_format,
                service_tier=request.service_tier or openai.omit,  # type: ignore[arg-type]
                reasoning_effort=request.reasoning_effort or openai.omit,  # type: ignore[arg-type]
                temperature=openai.omit if request.temperature is None else request.temperature,
                **_logprobs(request),
            )
            completion = await parsed(raw)
        except openai.OpenAIError as exc:
            raise translate(exc, creating=True) from exc
        if not isinstance(getattr(completion, "choices", None), list) or not completion.choices:
            # A success with no answer in it is not the API's (a row would fail on it as a crash, its
            # create uncounted): the create may have been passed on, and every row would meet the same.
            raise nothing_named(
                self._client.base_url, "chat/completions", "choices", completion, self._client.auth_headers
            )
        choice = completion.choices[0]
        usage = completion.usage
        details = usage.completion_tokens_details if usage else None
        prompt_details = usage.prompt_tokens_details if usage else None
        # Cut short, as the Responses API's `incomplete`: by the token ceiling, or by the content filter
        # (read as a completed answer, the filter's partial text went to the output as the answer).
        cut = choice.finish_reason if choice.finish_reason in _CUT_SHORT else None
        return Snapshot(
            response_id=None,
            status="incomplete" if cut else "completed",
            output_text=choice.message.content or "",
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            reasoning_tokens=details.reasoning_tokens if details else None,
            error_code="incomplete" if cut else None,
            error_message=f"incomplete: {cut}" if cut else None,
            model=completion.model,
            refusal=choice.message.refusal or None,
            cached_tokens=prompt_details.cached_tokens if prompt_details else None,
            service_tier=completion.service_tier,
            logprobs=token_logprobs(choice.logprobs.content) or None if choice.logprobs else None,
        )

    async def aclose(self) -> None:
        await self._client.close()


_CUT_SHORT = frozenset({"length", "content_filter"})
"""The `finish_reason`s of an answer that stopped before the model finished it."""


def _logprobs(request: RowRequest) -> dict[str, Any]:
    """Chat Completions' ask for each answer token's log probability and likeliest alternatives."""
    if request.top_logprobs is None:
        return {}
    return {"logprobs": True, "top_logprobs": request.top_logprobs}


def _content(request: RowRequest) -> str | list[dict[str, Any]]:
    """The prompt alone, or with its attachments as parts (the text, then each one). Chat Completions
    takes an image by URL only and a file inline or by uploaded id only: a row naming another kind is
    refused unsent."""
    if not request.attachments:
        return request.prompt
    parts: list[dict[str, Any]] = []
    if request.prompt.strip():
        parts.append({"type": "text", "text": request.prompt})
    for item in request.attachments:
        how = ref_kind(item.ref)
        if item.kind == "image" and how != "file_id":
            parts.append(
                {
                    "type": "image_url",
                    "image_url": {"url": item.ref, "detail": request.image_detail or "auto"},
                }
            )
        elif item.kind == "file" and how == "file_id":
            parts.append({"type": "file", "file": {"file_id": item.ref}})
        elif item.kind == "file" and item.filename is not None:
            parts.append({"type": "file", "file": {"filename": item.filename, "file_data": item.ref}})
        else:
            takes = (
                "as URLs or local files" if item.kind == "image" else "as local files or uploaded file ids"
            )
            raise RequestRejectedError(
                f"{item.kind} {item.ref!r}: Chat Completions takes {item.kind}s {takes}, not this way "
                "(the Responses API takes them)"
            )
    return parts
