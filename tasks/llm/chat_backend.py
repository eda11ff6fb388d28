"""Chat Completions: a backend with no background mode. Each row completes inside its create call,
so there is no continuation token to checkpoint; the row still walks the same state machine."""

from __future__ import annotations

from typing import Any

import openai

from rowrelay.tasks.llm.answers import nothing_named, parsed
from rowrelay.tasks.llm.calls import NotTheApiError, RequestRejectedError, RowRequest, Snapshot
from rowrelay.tasks.llm.chat_answers import FIRST_ANSWERS, FirstAnswers, no_choice, snapshot_of_choice
from rowrelay.tasks.llm.chat_timeouts import SlowAnswers
from rowrelay.tasks.llm.masking import ClientKeys, says_why
from rowrelay.tasks.llm.usage_counts import said_anew
from rowrelay.tasks.media_refs import ref_kind

NEVER_A_CHOICE = (
    f", as were the run's first {FIRST_ANSWERS} answers, none naming one (or the server answers no row)"
)
"""What the run's first answers said besides, when none named a choice (`FirstAnswers`)."""


class ChatBackend:
    """Rows through Chat Completions: a `ForegroundBackend`, no token, nothing to poll or cancel."""

    def __init__(self, name: str, client: openai.AsyncOpenAI) -> None:
        self.name = name
        self._client = client
        self._first = FirstAnswers()
        # The wait for an answer is the model's whole generation: its own timeout (client.py).
        self._slow = SlowAnswers(_answer_timeout(client.timeout), _sending_timeout(client.timeout))
        # What a failed answer says quotes the server's words (a tool's name): masked of our credentials.
        self._keys = ClientKeys(client)
        said_anew()  # a run's warnings about the server's usage start again (usage_counts.py)

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
            completion = await parsed(raw)  # a body that is no JSON (a page, events): the SDK's exception
        except openai.OpenAIError as exc:  # a timeout's (rowrelay's, a gateway's) its own words
            raise self._slow.translated(exc) from exc
        snapshot = self._answered(completion)
        return await self._keys.masked(snapshot) if says_why(snapshot) else snapshot

    def _answered(self, completion: object) -> Snapshot:
        """The row's end as the completion says it; or why no answer of the run's will be one."""
        choices = getattr(completion, "choices", None)
        if not isinstance(choices, list):
            # A success with no answer in it is not the API's (a row would fail on it as a crash, its
            # create uncounted): the create may have been passed on, and every row would meet the same.
            raise self._nothing_named(completion)
        if not choices:
            if self._first.choiceless_stops_run():
                raise self._nothing_named(completion, besides=NEVER_A_CHOICE)
            return no_choice(completion)
        self._first.named_a_choice()
        return snapshot_of_choice(completion)

    def _nothing_named(self, completion: object, *, besides: str = "") -> NotTheApiError:
        client = self._client
        return nothing_named(
            client.base_url, "chat/completions", "choices", completion, client.auth_headers, besides=besides
        )

    async def aclose(self) -> None:
        await self._client.close()


def _answer_timeout(timeout: float | openai.Timeout | None) -> float:
    """The seconds a create waits for its answer: the timeout's `read` part (None: no limit, said as 0)."""
    seconds = timeout.read if isinstance(timeout, openai.Timeout) else timeout
    return 0.0 if seconds is None else seconds


def _sending_timeout(timeout: float | openai.Timeout | None) -> float:
    """The seconds sending a create may take: the timeout's `write` part (None: no limit, said as 0)."""
    seconds = timeout.write if isinstance(timeout, openai.Timeout) else timeout
    return 0.0 if seconds is None else seconds


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
