"""What a Chat Completions answer makes of its row: the `Snapshot` of its first choice, and what to make of
an answer with no choice at all.

rowrelay offers no tools on a chat row, so an answer is text, a refusal, or an answer cut short. Some
OpenAI-compatible servers answer otherwise, and each was recorded `completed` with an empty text, never
sent again and never said: a tool call nobody offered (a model trained to call tools, `content: null`,
`finish_reason: tool_calls`), a message with no content at all (`content: null`, neither a refusal nor a
call), or no choice (`choices: []`, some providers' answer to content they filtered). Each now fails its
row with what the server did (`failed`, `no_answer`, paid for and counted). Such a row is not sent again
by itself, as a refusal is not: the same prompt most likely meets the same answer, and each is paid for
(`rowrelay retry` sends it again). An empty text (`content: ""`) is the model's answer, as a Responses
answer with no text is: completed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rowrelay.tasks.llm.calls import ResponseStatus, Snapshot
from rowrelay.tasks.llm.snapshots import token_logprobs
from rowrelay.tasks.llm.usage_counts import token_count
from rowrelay.tasks.token_logprobs import TokenLogprob

CUT_SHORT = frozenset({"length", "content_filter"})
"""The `finish_reason`s of an answer that stopped before the model finished it."""
_ASKS_FOR_TOOLS = frozenset({"tool_calls", "function_call"})
"""The `finish_reason`s of an answer that waits for tools to be run (`function_call`: the older API's)."""

FIRST_ANSWERS = 5
"""Answers with no choice, before any with one, that stop the run as not the API's (see `FirstAnswers`)."""


def snapshot_of_choice(completion: Any) -> Snapshot:
    """The row's end as the completion's first choice says it (the completion has one)."""
    choice = completion.choices[0]
    message = getattr(choice, "message", None)
    reason = getattr(choice, "finish_reason", None)
    content = getattr(message, "content", None)
    refusal = getattr(message, "refusal", None) or None
    logprobs = getattr(getattr(choice, "logprobs", None), "content", None)
    kept: dict[str, Any] = {"refusal": refusal, "logprobs": token_logprobs(logprobs) or None}
    if reason in CUT_SHORT:  # as the Responses API's `incomplete`: the token ceiling, or the content filter
        # (read as a completed answer, the filter's partial text went to the output as the answer)
        said = f"incomplete: {reason}"
        return _snapshot(completion, "incomplete", content or "", "incomplete", said, **kept)
    calls = _calls(message)
    if calls or reason in _ASKS_FOR_TOOLS:
        named = f" ({', '.join(calls)})" if calls else ""
        said = (
            f"the model asked to call a tool{named} and gave no answer (finish_reason {reason!r}): rowrelay "
            "offers no tools on Chat Completions rows, so there is no answer to record"
        )
        return _no_answer(completion, "tool_calls", said)
    if content is None and refusal is None:
        said = f"the model gave no answer: its message has no content (null; finish_reason {reason!r})"
        return _no_answer(completion, "no_content", said)
    return _snapshot(completion, "completed", content or "", **kept)


def no_choice(completion: Any) -> Snapshot:
    """The row's end when the answer holds no choice: failed, its usage kept (it may have been paid)."""
    said = (
        "the server answered with no choice (choices: []), so there is no answer to record; some servers "
        "answer so for content they filtered"
    )
    return _no_answer(completion, "no_choice", said)


@dataclass
class FirstAnswers:
    """Whether answers with no choice are the server's way with this run rather than a row's lot.

    A server that is not the API (a web server, a stub answering any POST) answers every create alike, so
    an answer naming no choices stopped the run at once, as not the API's. But some providers answer
    `choices: []` for a row whose content they filtered: the run stopped after 5 rows had completed, for
    one row. So such an answer fails its row alone, unless the run's first `FIRST_ANSWERS` answers all
    had no choice: then no row will get one, and the run stops as before. The answers come in any order;
    once one has named a choice, none stops the run."""

    chose: bool = False
    choiceless: int = 0

    def named_a_choice(self) -> None:
        self.chose = True

    def choiceless_stops_run(self) -> bool:
        """Count an answer with no choice, and say whether it stops the run: no answer yet has named
        one, and this is the `FIRST_ANSWERS`th or a later one."""
        self.choiceless += 1
        return not self.chose and self.choiceless >= FIRST_ANSWERS


def _calls(message: Any) -> list[str]:
    """The names of the tools a message asks to call (function, custom, the older `function_call`)."""
    names = []
    for call in getattr(message, "tool_calls", None) or ():
        tool = getattr(call, "function", None) or getattr(call, "custom", None)
        names.append(str(getattr(tool, "name", None) or "unnamed"))
    older = getattr(message, "function_call", None)
    if older is not None:
        names.append(str(getattr(older, "name", None) or "unnamed"))
    return names


def _no_answer(completion: Any, code: str, said: str) -> Snapshot:
    """The row's end when the answer holds no answer: failed, never sent again by itself (`NEVER_RESENT`)."""
    return replace(_snapshot(completion, "failed", None, code, said), error_type="no_answer")


def _snapshot(
    completion: Any,
    status: ResponseStatus,
    text: str | None,
    code: str | None = None,
    said: str | None = None,
    *,
    refusal: str | None = None,
    logprobs: tuple[TokenLogprob, ...] | None = None,
) -> Snapshot:
    """A snapshot of `status` with the completion's usage, model and tier: a failed answer was paid too."""
    usage = getattr(completion, "usage", None)
    details = getattr(usage, "completion_tokens_details", None)
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    return Snapshot(
        response_id=None,
        status=status,
        output_text=text,
        # Read defensively: a negative, string or absurd count is unknown (usage_counts.py).
        input_tokens=token_count(getattr(usage, "prompt_tokens", None), "usage.prompt_tokens"),
        output_tokens=token_count(getattr(usage, "completion_tokens", None), "usage.completion_tokens"),
        reasoning_tokens=token_count(
            getattr(details, "reasoning_tokens", None), "usage.completion_tokens_details.reasoning_tokens"
        ),
        error_code=code,
        error_message=said,
        model=getattr(completion, "model", None),
        cached_tokens=token_count(
            getattr(prompt_details, "cached_tokens", None), "usage.prompt_tokens_details.cached_tokens"
        ),
        service_tier=getattr(completion, "service_tier", None),
        refusal=refusal,
        logprobs=logprobs,
    )
