"""The top-level parameters each create route knows; any other is refused, as the service refuses it.

The service's request schemas are closed: a misspelt or made-up field is a 400, not ignored. The sets
are the spec's (`CreateResponse` and `CreateChatCompletionRequest`, with what they take in through
`allOf`), written out here because the emulator does not read the spec; tests/emulator/test_parameters.py
compares them with it, so the two cannot drift apart. The Responses API also takes the fields the SDK
(openai 3.54.0, newer than the vendored spec) sends that the spec does not have yet.
"""

from __future__ import annotations

from typing import Any, Literal

from rowrelay.tasks.emulator.refusals import BadRequest

Route = Literal["responses", "chat"]

RESPONSES_SPEC_PARAMETERS = frozenset(
    {
        "background", "context_management", "conversation", "include", "input", "instructions",
        "max_output_tokens", "max_tool_calls", "metadata", "model", "moderation", "parallel_tool_calls",
        "previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_options",
        "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "stream",
        "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p",
        "truncation", "user",
    }
)  # fmt: skip
"""`CreateResponse`'s properties in the vendored spec (2.3.0), its `allOf` parts' included."""
RESPONSES_SDK_ONLY_PARAMETERS = frozenset({"access_programs", "background_options", "image"})
"""Create parameters of `openai` 3.54.0 (`ResponseCreateParamsBase`) that the vendored spec lacks: the
SDK is generated from the service's newer spec, so the service takes them (PROTOCOL.md 1.1 on
`background_options`: accepted and ignored)."""
RESPONSES_PARAMETERS = RESPONSES_SPEC_PARAMETERS | RESPONSES_SDK_ONLY_PARAMETERS

CHAT_PARAMETERS = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "messages", "metadata", "modalities", "model", "moderation",
        "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
        "prompt_cache_options", "prompt_cache_retention", "reasoning_effort", "response_format",
        "safety_identifier", "seed", "service_tier", "stop", "store", "stream", "stream_options",
        "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
        "web_search_options",
    }
)  # fmt: skip
"""`CreateChatCompletionRequest`'s properties in the vendored spec, its `allOf` parts' included (the
SDK's `CompletionCreateParamsBase` has exactly these)."""


def check_known(body: dict[str, Any], route: Route) -> None:
    """Refuse a create naming a top-level parameter its route does not know, in the service's words.

    The Responses API names the first unknown one (in the body's order): 400 `Unknown parameter:
    'foo'.`, param `foo`, code `unknown_parameter`; for a name near a known one it may add `Did you
    mean 'store'?`, which the emulator does not. Chat Completions names them all, sorted, with no param
    and no code: `Unrecognized request argument supplied: foo` (`arguments ... : bar, foo` for more)."""
    if route == "responses":
        unknown = next((name for name in body if name not in RESPONSES_PARAMETERS), None)
        if unknown is not None:
            raise BadRequest(f"Unknown parameter: '{unknown}'.", unknown, "unknown_parameter")
        return
    names = sorted(name for name in body if name not in CHAT_PARAMETERS)
    if len(names) == 1:
        raise BadRequest(f"Unrecognized request argument supplied: {names[0]}")
    if names:
        raise BadRequest(f"Unrecognized request arguments supplied: {', '.join(names)}")
