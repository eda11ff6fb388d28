"""The Responses API in background mode: OpenAI, Azure OpenAI, any compatible server, the emulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Literal
from urllib.parse import quote

import openai
from openai.types.responses import ResponseIncludable

from rowrelay.tasks.llm.answers import STREAMED, lean_answer, nothing_named, parsed, sdk_answer
from rowrelay.tasks.llm.calls import (
    BackendRefusedError,
    RowRequest,
    Snapshot,
    StreamUnavailableError,
    StreamUpdate,
)
from rowrelay.tasks.llm.masking import ClientKeys, says_why
from rowrelay.tasks.llm.responses_events import ResponsesStream, passable, stream_updates
from rowrelay.tasks.llm.sdk_errors import translate
from rowrelay.tasks.llm.snapshots import snapshot_of
from rowrelay.tasks.llm.usage_counts import said_anew
from rowrelay.tasks.llm.wire import Wire
from rowrelay.tasks.media_refs import ref_kind

HeadersHook = Callable[[Mapping[str, str]], None]
"""Told the headers of every create's answer, a refusal's too (the rate budget reads `x-ratelimit-*`)."""
TakenHook = Callable[[bool], None]
"""Told of each call the server took: a create (False), or a poll or stream resume (True); the rate
budget's backoff after 429s starts over at one (`RateBudget.on_taken`)."""
Transport = Literal["lean", "sdk"]
LOGPROBS: ResponseIncludable = "message.output_text.logprobs"
"""The `include` value that asks for the answer's token log probabilities (`--logprobs`)."""


class ResponsesBackend:
    """Background responses, described by the official SDK's clients.

    Two clients share one connection pool's settings but differ in transport retries: creates use
    none (a retried create after a timeout can start a second paid job), so the runner
    decides what an unanswered create means; polls, streams and cancels are idempotent reads or
    idempotent writes, so they are retried up to the reads client's `max_retries`.

    With the `lean` transport (the default), every call goes over `Wire` (aiohttp and orjson, a tenth
    of the SDK's CPU per call, see wire.py): JSON answers and stream events are read straight into
    Snapshots and StreamUpdates. With `sdk`, every call goes through the SDK. Both raise the same
    errors and yield the same updates: wire.py hands `translate` the SDK's own exceptions and reads a
    stream as the SDK's `AsyncStream` does.
    """

    def __init__(
        self,
        name: str,
        creates: openai.AsyncOpenAI,
        reads: openai.AsyncOpenAI,
        on_headers: HeadersHook | None = None,
        *,
        transport: Transport = "lean",
        connections: int = 100,
        refused_hint: str | None = None,
        logprobs: bool = False,
        on_taken: TakenHook | None = None,
    ) -> None:
        self.name = name
        # What a poll or a stream resume asks to see beside the response: the server shows a response's
        # token log probabilities only to a read that includes them, whatever its create asked.
        self._include: ResponseIncludable | None = LOGPROBS if logprobs else None
        self._refused_hint = refused_hint  # what to check when the server refuses our credentials
        self._creates = creates
        self._reads = reads
        self._on_headers = on_headers
        self._on_taken = on_taken
        self._retries = reads.max_retries
        # The keys a failed response's own words may quote back (its `error.message`), masked from them
        # as they are read, as an error answer's are (`sdk_errors.translate`): both clients' credentials.
        self._keys = ClientKeys(creates, reads)
        said_anew()  # a run's warnings about the server's usage start again (usage_counts.py)
        self._wires: tuple[Wire, Wire] | None = None
        if transport == "lean":
            self._wires = (Wire(creates, connections=connections), Wire(reads, connections=connections))

    def _body(self, request: RowRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "input": _input(request),
            "background": True,
            # Said, not left to the default: newer versions of OpenAI's background guide keep a background
            # response past its ~10-minute polling window only when `store=true` is set explicitly, so a
            # batch resumed later than that would find its rows gone and pay for them again.
            "store": True,
            "metadata": dict(request.metadata),
        }
        if request.instructions:
            body["instructions"] = request.instructions
        if request.max_output_tokens is not None:
            body["max_output_tokens"] = request.max_output_tokens
        if request.text_format is not None:
            body["text"] = {"format": dict(request.text_format)}
        if request.service_tier is not None:
            body["service_tier"] = request.service_tier
        if (reasoning := request.reasoning()) is not None:
            body["reasoning"] = reasoning
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = list(request.tools)
        if request.max_tool_calls is not None:
            body["max_tool_calls"] = request.max_tool_calls
        if request.top_logprobs is not None:
            body["top_logprobs"] = request.top_logprobs
            body["include"] = [LOGPROBS]
        return body

    async def create(self, request: RowRequest) -> Snapshot:
        try:
            if self._wires is not None:
                answer, headers = await self._wires[0].call("POST", "responses", self._body(request))
            else:
                raw = await self._creates.responses.with_raw_response.create(**self._body(request))
                answer, headers = await parsed(raw), raw.headers
        except openai.OpenAIError as exc:
            self._observe_error(exc)
            raise self._translate(exc, creating=True) from exc
        self._observe(headers)
        snapshot = self._named(snapshot_of(answer), answer)
        return await self._keys.masked(snapshot) if says_why(snapshot) else snapshot

    async def create_stream(self, request: RowRequest) -> AsyncGenerator[StreamUpdate, None]:
        body = {**self._body(request), "stream": True}
        stream: ResponsesStream | None = None
        answer: Any = None
        try:
            if self._wires is not None:
                opened = await self._wires[0].stream("POST", "responses", body, passable=passable)
                headers = opened.headers
                answer, stream = await lean_answer(opened)
            else:
                raw = await self._creates.responses.with_raw_response.create(**body)
                headers = raw.headers
                answer, stream = await sdk_answer(raw)
        except openai.OpenAIError as exc:
            self._observe_error(exc)
            raise self._translate(exc, creating=True) from exc
        self._observe(headers)
        if stream is None:
            # A server that ignores `stream` (some OpenAI-compatible ones) answers with the response
            # object: its job exists and this names it. Read as an empty stream, the create would count
            # as maybe created and be sent again, paid twice. No event follows: the row is polled.
            snapshot = self._named(snapshot_of(answer), answer)
            yield StreamUpdate(-1, await self._keys.masked(snapshot) if says_why(snapshot) else snapshot)
            return
        named = False
        async with contextlib.aclosing(stream_updates(stream, creating=True)) as updates:
            async for update in updates:
                if not named and update.snapshot is not None:
                    self._named(update.snapshot)
                    named = True
                yield await self._keys.masked_update(update) if says_why(update.snapshot) else update

    async def retrieve(self, response_id: str) -> Snapshot:
        answer: Any  # the lean transport's JSON, or the SDK's Response
        try:
            if self._wires is not None:
                path = f"responses/{quote(response_id, safe='')}"
                query = self._included() or None
                answer, _ = await self._wires[1].call("GET", path, params=query, retries=self._retries)
            else:
                include = [self._include] if self._include else openai.omit
                raw = await self._reads.responses.with_raw_response.retrieve(response_id, include=include)
                answer = await parsed(raw)
        except openai.OpenAIError as exc:
            raise self._translate(exc) from exc
        self._taken(poll=True)
        snapshot = snapshot_of(answer)
        return await self._keys.masked(snapshot) if says_why(snapshot) else snapshot

    async def resume(self, response_id: str, after: int) -> AsyncGenerator[StreamUpdate, None]:
        # A server-side cursor (exclusive: events after `after`); responses.stream() would replay
        # every event from the start and filter on the client.
        stream: ResponsesStream | None = None
        try:
            if self._wires is not None:
                path = f"responses/{quote(response_id, safe='')}"
                query = {"stream": "true", **({"starting_after": str(after)} if after >= 0 else {})}
                query |= self._included()
                opened = await self._wires[1].stream(
                    "GET", path, params=query, retries=self._retries, passable=passable
                )
                _, stream = await lean_answer(opened)  # an object is read to its end all the same
            else:
                raw = await self._reads.responses.with_raw_response.retrieve(
                    response_id,
                    stream=True,
                    starting_after=after if after >= 0 else openai.omit,
                    include=[self._include] if self._include else openai.omit,
                )
                _, stream = await sdk_answer(raw)
        except openai.OpenAIError as exc:
            raise self._translate(exc) from exc
        if stream is None:
            # A server that ignores `stream` answers with the response object. Read as a stream that
            # ended early, the waiter would retrieve and resume again at once, without end: poll it.
            raise StreamUnavailableError(f"{response_id}: the server answered a stream resume without events")
        self._taken(poll=True)
        async for update in stream_updates(stream):
            yield await self._keys.masked_update(update) if says_why(update.snapshot) else update

    def _included(self) -> dict[str, str]:
        """The lean transport's query for what a read includes, as the SDK writes it (`include[]=...`)."""
        return {"include[]": self._include} if self._include else {}

    async def cancel(self, response_id: str) -> Snapshot:
        answer: Any  # the lean transport's JSON, or the SDK's Response
        try:
            if self._wires is not None:
                path = f"responses/{quote(response_id, safe='')}/cancel"
                answer, _ = await self._wires[1].call("POST", path, retries=self._retries)
            else:
                answer = await parsed(await self._reads.responses.with_raw_response.cancel(response_id))
        except openai.OpenAIError as exc:
            raise self._translate(exc) from exc
        snapshot = snapshot_of(answer)
        return await self._keys.masked(snapshot) if says_why(snapshot) else snapshot

    async def aclose(self) -> None:
        for wire in self._wires or ():
            await wire.aclose()
        await self._creates.close()
        await self._reads.close()

    def _translate(self, exc: openai.OpenAIError, *, creating: bool = False) -> Exception:
        """`sdk_errors.translate`, with `refused_hint` on a refusal of our credentials (401, 403)."""
        translated = translate(exc, creating=creating)
        if self._refused_hint and isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return BackendRefusedError(f"{translated} ({self._refused_hint})")
        return translated

    def _named(self, snapshot: Snapshot, answer: object = STREAMED) -> Snapshot:
        """A create's answer (its JSON, or its stream's first response), if it names the response it made.
        A success that names none (JSON of another kind, events of another API) is not the API's."""
        if isinstance(snapshot.response_id, str) and snapshot.response_id:
            return snapshot
        creates = self._creates
        raise nothing_named(creates.base_url, "responses", "response", answer, creates.auth_headers)

    def _observe(self, headers: Mapping[str, str], *, taken: bool = True) -> None:
        """A create's answer: its headers, and (`taken`) a create the server took."""
        if self._on_headers is not None:
            self._on_headers(headers)
        if taken:
            self._taken(poll=False)

    def _observe_error(self, exc: Exception) -> None:
        if isinstance(exc, openai.APIStatusError):
            self._observe(exc.response.headers, taken=False)

    def _taken(self, *, poll: bool) -> None:
        if self._on_taken is not None:
            self._on_taken(poll)


def _input(request: RowRequest) -> str | list[dict[str, Any]]:
    """The prompt alone as a string, or with its attachments one user message of parts: the text, then
    each image (`input_image`) and file (`input_file`) by URL, uploaded id or inline data."""
    if not request.attachments:
        return request.prompt
    parts: list[dict[str, Any]] = []
    if request.prompt.strip():
        parts.append({"type": "input_text", "text": request.prompt})
    for item in request.attachments:
        how = ref_kind(item.ref)
        if item.kind == "image":
            source = "file_id" if how == "file_id" else "image_url"
            parts.append({"type": "input_image", source: item.ref, "detail": request.image_detail or "auto"})
        elif how == "file_id":
            parts.append({"type": "input_file", "file_id": item.ref})
        elif item.filename is not None:  # a local file, inline
            parts.append({"type": "input_file", "filename": item.filename, "file_data": item.ref})
        else:
            parts.append({"type": "input_file", "file_url": item.ref})
    return [{"role": "user", "content": parts}]
