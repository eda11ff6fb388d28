"""Typed access to the SDK's stream events: the union has 59 members and only six carry a Response."""

from __future__ import annotations

from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseQueuedEvent,
    ResponseStreamEvent,
)

LifecycleEvent = (
    ResponseCreatedEvent
    | ResponseQueuedEvent
    | ResponseInProgressEvent
    | ResponseCompletedEvent
    | ResponseFailedEvent
    | ResponseIncompleteEvent
)
"""The stream events that carry the Response as it stood at that event."""

TERMINAL_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete"})
"""Event types that end a response's stream by reaching a terminal status (there is no `cancelled`)."""


def response_of(event: ResponseStreamEvent) -> Response:
    """The Response a lifecycle event carries; fails the test if `event` is any other kind."""
    assert isinstance(
        event,
        ResponseCreatedEvent
        | ResponseQueuedEvent
        | ResponseInProgressEvent
        | ResponseCompletedEvent
        | ResponseFailedEvent
        | ResponseIncompleteEvent,
    ), f"{event.type} carries no response"
    return event.response
