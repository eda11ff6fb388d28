"""A Chat Completions create that timed out waiting for its answer: what it means, and what to say.

Chat Completions has no background mode: the server answers a create only once the whole answer is
written, so the wait for the answer's first byte is the model's whole generation (minutes for a reasoning
model). Its timeout is therefore its own, `chat_timeout` (600 s, the SDK's own default), not the request
timeout that bounds background calls (60 s; each of those answers at once). A create cut by it after the
request was fully sent reached a server that was most likely still writing the answer, and bills it: the
row counts it as maybe sent, as any create whose answer was lost, and the run holds the row rather than
send the same prompt again to the same end (`state.orphans.ANSWER_TIMEOUT`). The first such cut of a
run is said once, naming the cause and the setting to raise.
"""

from __future__ import annotations

import logging

import httpx2
import openai

from rowrelay.tasks.llm.calls import MaybeSentError

log = logging.getLogger("rowrelay.backend")

CHAT_TIMEOUT_VARIABLE = "ROWRELAY_CHAT_TIMEOUT"


class AnswerTooSlowError(MaybeSentError):
    """A Chat Completions create, fully sent, whose answer did not come within the chat timeout: the
    server most likely made it, and bills it. Its row counts it (an attempt, a possible duplicate) and
    is held for `rowrelay retry`: sent again, the same prompt would most likely take as long."""


def answer_too_slow(exc: openai.OpenAIError) -> bool:
    """Whether a create's error is its answer not coming in time, the request having been fully sent (a
    read timeout). A connect, pool or write timeout left before the server had the whole request."""
    return isinstance(exc, openai.APITimeoutError) and isinstance(exc.__cause__, httpx2.ReadTimeout)


def _seconds(timeout: float) -> str:
    return f"{timeout:g} s"


class SlowAnswers:
    """One backend's (one run's, on one endpoint) answers cut by the chat timeout: said at the first."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._told = False

    def cut(self) -> AnswerTooSlowError:
        """The error a create cut by the chat timeout raises; the run's first says why, once."""
        if not self._told:
            self._told = True
            log.warning(
                "a chat create's answer took longer than the chat timeout (%s, %s) and was cut: Chat "
                "Completions answers only once the whole answer is written, so the server most likely "
                "wrote it, and bills it. Its row counts it as maybe sent (an attempt and a possible "
                "duplicate) and is held, not sent again, as the same prompt would most likely take as "
                "long; while answers are lost so, creates go one at a time after a growing pause. Raise "
                "%s above the longest answer (and any gateway's own timeout in front of the server: "
                "nginx's proxy_read_timeout is 60 s by default), then `rowrelay retry` sends the held rows",
                CHAT_TIMEOUT_VARIABLE,
                _seconds(self.timeout),
                CHAT_TIMEOUT_VARIABLE,
            )
        return AnswerTooSlowError(
            f"no answer within the chat timeout ({CHAT_TIMEOUT_VARIABLE}, {_seconds(self.timeout)}): Chat "
            "Completions answers only once the whole answer is written, and this one took longer; the "
            "server most likely wrote it, and bills it"
        )
