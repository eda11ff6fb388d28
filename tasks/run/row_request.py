"""What one row's create asks for: its prompt, attachments and the run's choices as one `RowRequest`, and
the prompt's tokens as the rate budget and the cost cap estimate them. Built from the row's key when it is
sent (`run.submit`), or counted under the cap (`Submitter.hold`), or its refused create gives its tokens
back (`run.refused_creates`).

    request = row_request(context, key)
    tokens = prompt_tokens(context, request)
"""

from __future__ import annotations

from rowrelay.tasks.llm import RowRequest
from rowrelay.tasks.run.context import RowContext

__all__ = ["prompt_tokens", "row_request"]


def row_request(context: RowContext, key: str) -> RowRequest:
    """Row `key`'s create, as the run's policy asks it of every row."""
    policy = context.policy
    return RowRequest(
        row_key=key,
        prompt=context.prompts(key),
        instructions=policy.instructions,
        model=policy.model,
        metadata={"rowrelay_batch": policy.batch_id, "rowrelay_row": key[:512]},
        max_output_tokens=policy.max_output_tokens,
        text_format=None if policy.output_schema is None else policy.output_schema.text_format(),
        service_tier=policy.service_tier,
        reasoning_effort=policy.reasoning_effort,
        temperature=policy.temperature,
        reasoning_summary=policy.reasoning_summary,
        tools=policy.tools,
        max_tool_calls=policy.max_tool_calls,
        attachments=() if context.attachments is None else context.attachments(key),
        image_detail=policy.image_detail,
        top_logprobs=policy.top_logprobs,
    )


def prompt_tokens(context: RowContext, request: RowRequest) -> int:
    """The request's prompt tokens as estimated before it is sent: its text, and its attachments as the
    run has learned them so far (`run.attached_tokens`)."""
    return context.text_tokens(request.prompt) + context.attached_tokens.value(request.attachments)
