"""A Chat Completions create that timed out waiting for its answer: what it means, and what to say.

Chat Completions has no background mode: the server answers a create only once the whole answer is
written, so the wait for the answer's first byte is the model's whole generation (minutes for a reasoning
model). Its timeout is therefore its own, `chat_timeout` (600 s, the SDK's own default), not the request
timeout that bounds background calls (60 s; each of those answers at once). A create cut by it after the
request was fully sent reached a server that was most likely still writing the answer, and bills it: the
row counts it as maybe sent, as any create whose answer was lost, and the run holds the row rather than
send the same prompt again to the same end (`state.orphans.ANSWER_TIMEOUT`). The first such cut of a
run is said once, naming the cause and the setting to raise.

A gateway in front of the server (nginx, a load balancer, Cloudflare, a LiteLLM proxy) may give up first,
at its own timeout (nginx's proxy_read_timeout is 60 s by default), and answer 504 instead
(`GATEWAY_TIMEOUTS`): the create had reached the server just the same, which goes on writing the answer
and bills it, and sent again it would be cut again. It is read as the chat timeout's cut is (an
`AnswerTooSlowError`: counted, the row held), said once in its own words, naming the gateway's timeout.
It was read as any gateway's page, sent again up to `--max-attempts`, each time a paid answer lost.
Responses-API creates are answered at once (background mode), so their 504 is any gateway's fault.

A create whose request could not be sent in time (a write timeout: a slow link, a row's large inline
images and files) waited the request timeout, not the chat timeout: its message says so
(`SlowAnswers.translated`), where it said the Responses API's hint (a server that ignores background
mode needs a longer request timeout), which named no setting that bounds a chat create's sending.
"""

from __future__ import annotations

import logging

import httpx2
import openai

from rowrelay.tasks.llm.answer_words import from_the_api, server_words
from rowrelay.tasks.llm.calls import MaybeSentError
from rowrelay.tasks.llm.masking import mask_chain
from rowrelay.tasks.llm.sdk_errors import TIMED_OUT_UPSTREAM, translate
from rowrelay.tasks.setting_problems import option_of

log = logging.getLogger("rowrelay.backend")

CHAT_TIMEOUT_VARIABLE = "ROWRELAY_CHAT_TIMEOUT"
REQUEST_TIMEOUT_VARIABLE = "ROWRELAY_REQUEST_TIMEOUT"

GATEWAY_TIMEOUTS = {504: "Gateway Timeout", 524: "A Timeout Occurred"}
"""A gateway's answer that the server behind it took too long: 504 (nginx's proxy_read_timeout, 60 s by
default; AWS's load balancers and API Gateway, Envoy's "upstream request timeout", Kong, Traefik) and
Cloudflare's 524 (100 s). LiteLLM answers its own upstream timeout 408 in the API's error envelope
(`_gateway_timed_out`); a 408 page is a server that did not get the whole request in time (nginx's
client_body_timeout), whose create never reached the model."""


class AnswerTooSlowError(MaybeSentError):
    """A Chat Completions create, fully sent, whose answer did not come within the chat timeout: the
    server most likely made it, and bills it. Its row counts it (an attempt, a possible duplicate) and
    is held for `rowrelay retry`: sent again, the same prompt would most likely take as long."""


def answer_too_slow(exc: openai.OpenAIError) -> bool:
    """Whether a create's error is its answer not coming in time, the request having been fully sent (a
    read timeout). A connect, pool or write timeout left before the server had the whole request."""
    return isinstance(exc, openai.APITimeoutError) and isinstance(exc.__cause__, httpx2.ReadTimeout)


def _gateway_timed_out(exc: openai.OpenAIError) -> bool:
    """Whether a create's error answer is a gateway's saying the server behind it took too long."""
    if not isinstance(exc, openai.APIStatusError):
        return False
    status = exc.status_code
    return status in GATEWAY_TIMEOUTS or (status == TIMED_OUT_UPSTREAM and from_the_api(exc))


def _sending_timed_out(exc: openai.OpenAIError) -> bool:
    """Whether a create timed out while its request was being written (the request timeout's `write`)."""
    return isinstance(exc, openai.APITimeoutError) and isinstance(exc.__cause__, httpx2.WriteTimeout)


def _seconds(timeout: float) -> str:
    return f"{timeout:g} s"


class SlowAnswers:
    """One backend's (one run's, on one endpoint) answers cut by the chat timeout: said at the first."""

    def __init__(self, timeout: float, sending: float = 0.0) -> None:
        self.timeout = timeout
        self.sending = sending  # the request timeout's `write`: how long sending a create may take
        self._told = False
        self._gateway_told = False

    def translated(self, exc: openai.OpenAIError) -> Exception:
        """What a chat create's SDK error is for its row: the chat timeout's cut, a gateway's timeout, a
        request not sent in time, or anything else as `sdk_errors.translate` reads it."""
        if answer_too_slow(exc):
            return self.cut()
        if _gateway_timed_out(exc):
            assert isinstance(exc, openai.APIStatusError)
            mask_chain(exc)  # the server's words are quoted: masked of our keys first
            return self.gateway_cut(exc)
        if _sending_timed_out(exc):
            return MaybeSentError(
                f"the request timed out while it was being sent ({REQUEST_TIMEOUT_VARIABLE}, "
                f"{_seconds(self.sending)}, bounds sending a chat create; the wait for its answer is "
                f"{CHAT_TIMEOUT_VARIABLE}'s): a slow link, or a row's large inline images and files, needs "
                f"more"
            )
        return translate(exc, creating=True)

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

    def gateway_cut(self, exc: openai.APIStatusError) -> AnswerTooSlowError:
        """The error a create answered with a gateway's timeout raises; the run's first says why, once."""
        status = exc.status_code
        said = f"{status} ({GATEWAY_TIMEOUTS.get(status) or exc.response.reason_phrase or 'Request Timeout'})"
        if not self._gateway_told:
            self._gateway_told = True
            log.warning(
                "a chat create was answered %s by a gateway in front of the server (%s): the gateway's "
                "own timeout cut the wait for the answer, not rowrelay's (%s, %s). Chat Completions "
                "answers only once the whole answer is written, so the server most likely went on writing "
                "it, and bills it. Its row counts it as maybe sent (an attempt and a possible duplicate) "
                "and is held, not sent again, as the same prompt would most likely take as long; while "
                "answers are lost so, creates go one at a time after a growing pause. Raise the gateway's "
                "timeout above the longest answer (nginx: proxy_read_timeout, 60 s by default), or send to "
                "the server directly (%s), then `rowrelay retry` sends the held rows",
                said,
                exc.request.url,
                CHAT_TIMEOUT_VARIABLE,
                _seconds(self.timeout),
                option_of("base_url"),
            )
        words = f": {server_words(exc)}" if from_the_api(exc) else ""  # a page's HTML says nothing more
        return AnswerTooSlowError(
            f"{said} from a gateway in front of the server{words}: its own timeout cut the wait for the "
            "answer (Chat Completions answers only once the whole answer is written); the server most "
            "likely wrote it, and bills it"
        )
