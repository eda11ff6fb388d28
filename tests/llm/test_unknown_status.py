"""A server answering a status the API does not have (`"succeeded"`, a trial's quirky server): the response
is read as still in progress, and polled on; without a word, the run looked hung. Said once for each."""

from __future__ import annotations

import logging
import uuid

import pytest

from rowrelay.tasks.llm.snapshots import snapshot_of


def test_a_status_the_api_does_not_have_is_read_as_in_progress_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    status = f"succeeded-{uuid.uuid4().hex[:8]}"  # said once a process: a status no other test used
    with caplog.at_level(logging.WARNING, logger="rowrelay"):
        seen = [snapshot_of({"id": f"resp_{n}", "status": status}) for n in range(3)]
        known = snapshot_of({"id": "resp_ok", "status": "queued"})
    assert [snapshot.status for snapshot in seen] == ["in_progress"] * 3
    assert known.status == "queued"
    said = [record.getMessage() for record in caplog.records]
    assert said == [
        f"the server answered a response status the API does not have, {status!r}: read as still in "
        "progress (the API's: cancelled, completed, failed, in_progress, incomplete, queued)"
    ]
