"""The deterministic fake model: what a response will say, how long it works and how it ends.

Everything is a pure function of the request, the seed and (for faults only) how many identical requests
came before, so that a retried row can draw a different fault while its text stays the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from rowrelay.tasks.emulator.answers import write_answer
from rowrelay.tasks.emulator.config import EmulatorConfig
from rowrelay.tasks.emulator.hosted_tools import search_kinds
from rowrelay.tasks.emulator.reasoning import asked_effort, effort_scale, written_summary
from rowrelay.tasks.emulator.searches import Citation, Search, WebSearch, cite, cites, link, plan_searches
from rowrelay.tasks.emulator.structured import Mangle
from rowrelay.tasks.emulator.summary import summary_chunks
from rowrelay.tasks.emulator.token_counts import cached_tokens, estimate_tokens, prompt_tokens, text_of_input
from rowrelay.tasks.emulator.tools import ToolCall, function_to_call
from rowrelay.tasks.emulator.words import chunk, split

Outcome = Literal["completed", "failed", "incomplete", "stuck"]
ForcedFault = Literal["fail", "incomplete", "stuck", "content-filter"]
ForcedAnswer = Literal["broken", "mismatch", "invalid-json", "refusal"]
"""What a request may force its answer to be: JSON that does not parse, JSON that breaks the schema,
either of the two (drawn), or a refusal."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The fate of one response, fixed at creation."""

    queue_delay: float
    work_time: float
    chunks: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    outcome: Outcome
    reasoning: bool
    call: ToolCall | None = None  # set when the answer is a function call instead of text (no chunks)
    refusal: bool = False  # the chunks are a refusal (a `refusal` content part), not output text
    cached_tokens: int = 0  # of input_tokens, served from the prompt cache
    summary: tuple[str, ...] = ()  # the reasoning summary's deltas; none unless one was asked for
    searches: tuple[Search, ...] = ()  # the web and file searches run before a text answer (searches.py)
    citations: tuple[Citation, ...] = ()  # one per search, in order: a page's spans its link in the text
    seed: int = 0  # the emulator's: the answer's logprobs are drawn from it when shown (logprobs.py)
    filtered: bool = False  # the content filter stopped it: incomplete for `content_filter`, not the ceiling

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def wrote(self) -> bool:
        """Whether the model wrote any of its answer. One whose reasoning spent the whole ceiling wrote
        nothing: its response has no message or function call item, only the reasoning item."""
        return self.call is not None or bool(self.chunks)


def request_digest(body: dict[str, Any]) -> bytes:
    """A stable digest of what determines the answer: model, input and instructions.

    Not the reasoning effort: it scales the reasoning draw, so one prompt at two efforts keeps its shape."""
    key = {k: body.get(k) for k in ("model", "input", "instructions", "messages")}
    return hashlib.blake2b(orjson.dumps(key, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def uniforms(seed: int, digest: bytes, salt: str, count: int) -> list[float]:
    """`count` numbers in the open interval (0, 1), derived only from the arguments."""
    raw = hashlib.blake2b(digest + f"|{seed}|{salt}".encode(), digest_size=8 * count).digest()
    return [(int.from_bytes(raw[8 * i : 8 * i + 8], "big") + 0.5) / 2.0**64 for i in range(count)]


def plan_response(
    config: EmulatorConfig,
    body: dict[str, Any],
    occurrence: int,
    *,
    background: bool,
    forced_fault: ForcedFault | None = None,
    forced_latency: float | None = None,
    forced_answer: ForcedAnswer | None = None,
) -> Plan:
    """Decide everything about a response at creation time."""
    digest = request_digest(body)
    model = str(body.get("model") or "")
    scale = effort_scale(model, asked_effort(body))
    reasoning = scale > 0  # a reasoning model at effort `none` answers at once, with no reasoning item
    shape = uniforms(config.seed, digest, "shape", 5)
    low, high = config.output_tokens
    wanted = low + min(high - low, int(shape[0] * (high - low + 1)))
    # The medium-effort draw, scaled: `high` is exactly twice `medium` for the same prompt and seed.
    reasoning_tokens = int(int(wanted * (0.5 + 2.5 * shape[1])) * scale)
    work_time = forced_latency if forced_latency is not None else config.latency.draw(shape[2], shape[3])
    outcome = _draw_outcome(config, digest, occurrence, background, forced_fault)
    filtered = outcome == "completed" and _filtered(config, digest, occurrence, forced_fault)
    if filtered:
        outcome = "incomplete"
    kind = _draw_answer(config, digest, occurrence, forced_answer)
    searches = _searches(config, body, digest, kind)
    # The links the answer writes to cite the pages are output like its words (searches.py): the limit
    # cuts the words short enough for them to fit, so usage never passes `max_output_tokens`. A file's
    # citation writes nothing.
    cited = cites(body) and bool(searches)
    pages = [search for search in searches if isinstance(search, WebSearch)] if cited else []
    linked = sum(estimate_tokens(" " + link(page)) for page in pages)
    visible = wanted
    limit = output_ceiling(body)
    room: int | None = None  # what the answer may cost, its links aside, when a ceiling is set
    if limit is not None:
        if reasoning_tokens + wanted + linked > limit:
            outcome = "incomplete" if outcome == "completed" else outcome
            # The model reasons first: reasoning that reaches the ceiling ends the response there, with
            # every token spent on it and nothing written.
            reasoning_tokens = min(reasoning_tokens, limit)
            visible = max(0, limit - reasoning_tokens - linked)
        room = max(0, limit - reasoning_tokens - linked)
    if outcome == "incomplete" and visible == wanted:
        visible = max(1, wanted // 2)
    call, chunks, visible, cut = write_answer(config, body, digest, visible, wanted, kind, room)
    if cut:  # the answer as planned costs more than the ceiling leaves: it stops where the tokens run out
        outcome = "incomplete" if outcome == "completed" else outcome
    if call is not None and not call.chunks and room == 0:
        call = None  # the reasoning left no room to begin the call: the response has no function call item
    citations: tuple[Citation, ...] = ()
    if cited and chunks:  # an answer cut to nothing cites nothing either
        text, citations = cite("".join(chunks), searches)
        if pages:  # the links written in: stream the text anew (citing files alone leaves it as it is)
            chunks, visible = chunk(split(text), config.max_deltas), visible + linked
    input_tokens = prompt_tokens(body)
    return Plan(
        queue_delay=0.0 if not background else min(0.5, 0.1 * work_time),
        work_time=max(0.0, work_time),
        chunks=chunks,
        input_tokens=input_tokens,
        output_tokens=visible + reasoning_tokens,
        reasoning_tokens=reasoning_tokens,
        outcome=outcome,
        reasoning=reasoning,
        call=call,
        refusal=kind == "refusal" and bool(chunks),
        cached_tokens=cached_tokens(input_tokens, config.cached_share),
        # Drawn apart from the answer and not counted: asking for a summary changes no other field.
        summary=summary_chunks(config.seed, digest, written_summary(body), config.max_deltas),
        searches=searches,
        citations=citations,
        seed=config.seed,
        filtered=filtered and outcome == "incomplete",
    )


def _searches(
    config: EmulatorConfig, body: dict[str, Any], digest: bytes, kind: Mangle | Literal["refusal"] | None
) -> tuple[Search, ...]:
    """The web and file searches run before the answer: only a text answer (not a refusal, not a function
    call) searches. The input is flattened again only then: it may be megabytes."""
    kinds = search_kinds(body)
    if kind == "refusal" or not kinds or function_to_call(body) is not None:
        return ()
    return plan_searches(config.seed, digest, body, kinds, text_of_input(body.get("input")))


def output_ceiling(body: dict[str, Any]) -> int | None:
    """The most tokens a create may generate, reasoning and visible output together: the Responses API's
    `max_output_tokens`; Chat Completions' `max_completion_tokens`, or failing it the deprecated
    `max_tokens`. None: no ceiling. Chat Completions checks neither at the door: one below zero is none
    left, never a negative count."""
    keys = ("max_completion_tokens", "max_tokens") if "messages" in body else ("max_output_tokens",)
    for key in keys:
        limit = body.get(key)
        if isinstance(limit, int) and not isinstance(limit, bool):
            return max(0, limit)
    return None


def _filtered(config: EmulatorConfig, digest: bytes, occurrence: int, forced: ForcedFault | None) -> bool:
    """Whether the content filter stops this response (drawn apart from the other faults, so a rate of 0
    leaves every other draw as it was)."""
    if forced == "content-filter":
        return True
    return config.content_filter_rate > 0 and (
        uniforms(config.seed, digest, f"filter|{occurrence}", 1)[0] < config.content_filter_rate
    )


def _draw_outcome(
    config: EmulatorConfig,
    digest: bytes,
    occurrence: int,
    background: bool,
    forced: ForcedFault | None,
) -> Outcome:
    if forced == "fail":
        return "failed"
    if forced == "incomplete" or (forced == "stuck" and background):
        return forced
    # A forced `stuck` on a foreground request is ignored, as stuck_rate is: nothing could cancel it.
    fail, incomplete, stuck = uniforms(config.seed, digest, f"fault|{occurrence}", 3)
    if fail < config.fail_rate:
        return "failed"
    if incomplete < config.incomplete_rate:
        return "incomplete"
    if background and stuck < config.stuck_rate:
        return "stuck"
    return "completed"


def _draw_answer(
    config: EmulatorConfig, digest: bytes, occurrence: int, forced: ForcedAnswer | None
) -> Mangle | Literal["refusal"] | None:
    """How the answer goes wrong, if it does: drawn per occurrence, so a retried row draws again."""
    if forced is None and not config.invalid_json_rate and not config.refusal_rate:
        return None  # the common case costs no hashing
    invalid, kind, refusal = uniforms(config.seed, digest, f"answer|{occurrence}", 3)
    if forced in ("broken", "mismatch", "refusal"):
        return forced
    if forced == "invalid-json" or invalid < config.invalid_json_rate:
        return "broken" if kind < 0.5 else "mismatch"
    return "refusal" if refusal < config.refusal_rate else None


def draw_create_error(config: EmulatorConfig, body: dict[str, Any], occurrence: int) -> bool:
    """Whether this create is answered with HTTP 500 (nothing started)."""
    if config.error_rate <= 0:
        return False
    (u,) = uniforms(config.seed, request_digest(body), f"error|{occurrence}", 1)
    return u < config.error_rate
