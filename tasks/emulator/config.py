"""The emulator's configuration: one frozen object, every option described.

Nothing here reads the environment: the CLI (or a test) builds an `EmulatorConfig` and passes it down,
so two emulators with different settings can live in one process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

StorePolicy = Literal["legacy", "current"]
BackgroundRefusal = Literal["none", "param", "unnamed"]
ErrorShape = Literal["nested", "flat"]


@dataclass(frozen=True, slots=True)
class LatencySpec:
    """How long a response works, drawn per request: `fixed:S`, `uniform:A,B` or `lognormal:MEDIAN,SIGMA`."""

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    a: float = 0.0
    b: float = 0.0

    @classmethod
    def parse(cls, text: str) -> LatencySpec:
        kind, _, args = text.strip().partition(":")
        try:
            numbers = [float(part) for part in args.split(",")] if args else []
        except ValueError as exc:
            raise ValueError(f"latency {text!r}: numbers expected after the colon") from exc
        if kind == "fixed" and len(numbers) == 1 and numbers[0] >= 0:
            return cls("fixed", numbers[0], numbers[0])
        if kind == "uniform" and len(numbers) == 2 and 0 <= numbers[0] <= numbers[1]:
            return cls("uniform", numbers[0], numbers[1])
        if kind == "lognormal" and len(numbers) == 2 and numbers[0] > 0 and numbers[1] >= 0:
            return cls("lognormal", numbers[0], numbers[1])
        raise ValueError(
            f"latency {text!r}: expected fixed:S, uniform:A,B (0 <= A <= B) or lognormal:MEDIAN,SIGMA"
        )

    def draw(self, u1: float, u2: float) -> float:
        """Map two uniform numbers in (0, 1) to a work time in seconds (pure, so it is deterministic)."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return self.a + (self.b - self.a) * u1
        # Box-Muller: a standard normal from two uniforms, then exp to a lognormal around the median.
        normal = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
        return self.a * math.exp(self.b * normal)

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"fixed:{self.a:g}"
        return f"{self.kind}:{self.a:g},{self.b:g}"


_RATES = (
    "fail_rate",
    "incomplete_rate",
    "content_filter_rate",
    "error_rate",
    "stuck_rate",
    "gateway_error_rate",
    "hang_rate",
    "stream_cut_rate",
    "empty_stream_rate",
    "skip_created_rate",
    "invalid_json_rate",
    "refusal_rate",
    "cached_share",
)


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything that shapes the emulator's behaviour. Defaults need no configuration."""

    seed: int = 0
    """Seeds the fake model's text, token counts, latencies and fault draws."""
    latency: LatencySpec = field(default_factory=LatencySpec)
    """Work time of each response (from create to its terminal event)."""
    output_tokens: tuple[int, int] = (16, 96)
    """Inclusive range the fake model draws each answer's output tokens from."""
    rpm: int | None = None
    """Creates allowed per minute (responses and chat completions); None means unlimited."""
    tpm: int | None = None
    """Tokens allowed per minute on creates (input estimate + max output tokens); None: unlimited."""
    poll_rpm: int | None = None
    """Retrieves, stream resumes and cancels allowed per minute; None means unlimited."""
    rate_window: float = 60.0
    """Seconds of traffic a full rate bucket holds (the burst): 60 allows a whole minute's limit at once;
    1 enforces it per second, as OpenAI may ("60,000 RPM may be enforced as 1,000 per second")."""
    create_delay: float = 0.0
    """Seconds a create takes to answer after its job has started (a slow first byte): the response
    exists on the server before the client hears its id, the window in which a crash makes an orphan."""
    cancel_delay: float = 0.0
    """Seconds a cancel takes to reach the response and answer (a far or busy server: thousands in flight
    take a while to cancel); a client that leaves first cancels nothing."""
    cancels_later: bool = False
    """Answer a cancel with the response as it stood (`queued`, `in_progress`) and cancel it after, as
    servers whose cancel is asynchronous do; a poll then finds it `cancelled`."""
    cancel_refusal: int | None = None
    """When set (400 or 405), every cancel is refused and its response goes on, as servers that cannot cancel
    answer: 400 `Cancel is not supported for this response.` in the API's error envelope, or 405 `{"detail":
    "Method Not Allowed"}`, a web framework's for a route the server does not have."""
    api_key: str | None = None
    """When set, every /v1 request must carry `Authorization: Bearer <api_key>` (401 otherwise), and every
    Azure (/openai) request `api-key: <api_key>` or that bearer (Azure's 401 otherwise)."""
    models: tuple[str, ...] | None = None
    """When set, the only models served: a create naming another is answered 404 `model_not_found`, as
    OpenAI answers a model that does not exist or that the key may not use, and starts nothing. None:
    any model name is served (tests and users name models of their own)."""
    fail_rate: float = 0.0
    """Share of background responses that end `failed` with `server_error`."""
    incomplete_rate: float = 0.0
    """Share of responses that end `incomplete` with reason `max_output_tokens`."""
    content_filter_rate: float = 0.0
    """Share of responses the content filter stops partway: `incomplete` with reason `content_filter`
    (Chat Completions: `finish_reason: content_filter`), the text cut short."""
    error_rate: float = 0.0
    """Share of creates answered with HTTP 500 (nothing is started)."""
    gateway_error_rate: float = 0.0
    """Share of creates (responses and chat) whose job starts but whose answer is a gateway's HTML 502, 503
    or 504 page instead (drawn among the three): the client cannot tell whether anything started."""
    down_for: float = 0.0
    """Seconds from the emulator's start (on its clock) during which a gateway in front of it answers every
    API request with its HTML 502 page, and nothing starts: nginx while the server behind it restarts."""
    hang_rate: float = 0.0
    """Share of creates (responses and chat) whose job starts but whose answer never comes: the request is
    held open until the client gives up and disconnects."""
    stream_cut_rate: float = 0.0
    """Share of stream creates whose job starts and whose 200 and SSE headers are sent, then the connection
    is cut before the first event."""
    empty_stream_rate: float = 0.0
    """Share of stream creates whose job starts and whose 200 stream ends cleanly without a single event."""
    skip_created_rate: float = 0.0
    """Share of stream creates whose stream leaves out `response.created` (the next event carries the id;
    sequence numbers are unchanged, so the first one seen is 1)."""
    stuck_rate: float = 0.0
    """Share of background responses that stay `queued` until cancelled."""
    invalid_json_rate: float = 0.0
    """Share of structured (`json_schema`) answers whose text is not JSON (cut mid-value) or is JSON that
    breaks the schema (a required field left out), half each; a retried request draws again."""
    refusal_rate: float = 0.0
    """Share of answers that are a refusal (a `refusal` content part) instead of text or JSON."""
    drop_stream_after: int | None = None
    """Cut every stream connection after this many events (the client must resume)."""
    retention: float | None = None
    """Seconds a response is held after creation; afterwards it is gone (404). None: forever."""
    replicas: int = 1
    """Servers behind a load balancer, each holding only the responses it made (vLLM's in-memory store over
    several replicas): each create, retrieve, stream resume and cancel of a response goes to a replica
    drawn from the seed and the request's turn, and one that did not make the response answers 404
    `Response with id '...' not found.` (the job runs on where it was made)."""
    stream_window: float = 300.0
    """Seconds after creation during which a background stream can be resumed (then 400)."""
    store_policy: StorePolicy = "legacy"
    """`legacy`: background with store=false is refused (400); `current`: accepted, and a background
    response created without an explicit `store: true` is deleted 10 minutes after it ends (404)."""
    error_shape: ErrorShape = "nested"
    """Shape of the SSE `error` event: nested as production sends it, or flat as the spec says."""
    emit_queued: bool = True
    """Emit `response.queued` after `response.created` on background streams."""
    background_refusal: BackgroundRefusal = "none"
    """Refuse every background create as vLLM does without its response store: 400 `This vLLM engine does
    not support store=True and therefore does not support the background mode. ...`, naming `background`
    as its `param` (`param`, as vLLM does now) or nothing (`unnamed`, as older vLLM did); nothing starts."""
    ignores_background: bool = False
    """Serve every create as if `background` had not been asked for, as some OpenAI-compatible servers do:
    the answer comes once the response has ended (a stream's events as they happen), and the response
    says `"background": false`."""
    done_sentinel: bool = False
    """End response streams with `data: [DONE]` (OpenAI does not; some servers do)."""
    max_deltas: int = 16
    """Text deltas per answer are at most this many (tokens are grouped into chunks)."""
    cached_share: float = 0.5
    """Share of a long prompt's tokens reported as served from the prompt cache
    (`usage.input_tokens_details.cached_tokens`). As OpenAI caches: only prompts of at least 1,024
    tokens, in whole 128-token steps (`token_counts.cached_tokens`); shorter prompts report 0."""

    def serves(self, model: object) -> bool:
        return self.models is None or model in self.models

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        low, high = self.output_tokens
        if not 1 <= low <= high:
            raise ValueError(f"output_tokens must satisfy 1 <= A <= B, got {low},{high}")
        for name in ("rpm", "tpm", "poll_rpm", "drop_stream_after"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.retention is not None and self.retention <= 0:
            raise ValueError(f"retention must be positive, got {self.retention}")
        if not 0 < self.rate_window <= 60:
            raise ValueError(f"rate_window must be in (0, 60] seconds, got {self.rate_window}")
        if self.create_delay < 0:
            raise ValueError(f"create_delay must not be negative, got {self.create_delay}")
        if self.down_for < 0:
            raise ValueError(f"down_for must not be negative, got {self.down_for}")
        if self.cancel_delay < 0:
            raise ValueError(f"cancel_delay must not be negative, got {self.cancel_delay}")
        if self.stream_window <= 0:
            raise ValueError(f"stream_window must be positive, got {self.stream_window}")
        if self.models is not None and not (self.models and all(name.strip() for name in self.models)):
            raise ValueError(f"models must name at least one model, none of them blank, got {self.models}")
        if self.cancel_refusal not in (None, 400, 405):
            raise ValueError(f"cancel_refusal must be 400 or 405, got {self.cancel_refusal}")
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {self.replicas}")
        if self.max_deltas < 1:
            raise ValueError(f"max_deltas must be at least 1, got {self.max_deltas}")
