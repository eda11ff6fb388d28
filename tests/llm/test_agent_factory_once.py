"""An `--agent` factory's helpers run on the run's server: `rowrelay run` checks the factory on a client
that sends nothing, then its run calls the factory again for the run's own client, so a helper agent the
factory built on the SDK client it was given (`chat.client`) sends where the run does. The run once took
the check's agent instead, its one chat client re-pointed: the helper stayed on the check's placeholder
address, every helper call failed, and the row completed on a paid answer to the tool's error. Against
the emulator over a real socket."""

from __future__ import annotations

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import RowRequest, in_background
from rowrelay.tasks.llm.agent_factory import check_factory
from rowrelay.tasks.llm.client import make_backend
from tests.support.counted_factory import HELPER_INSTRUCTIONS, HELPER_MODEL, CountedFactory
from tests.support.runs import settings_for

ROW = "row-0001"


async def test_a_helper_agent_built_on_the_factorys_sdk_client_runs_on_the_runs_server(
    emulator: RunningEmulator,
) -> None:
    counted = CountedFactory()
    settings = settings_for(emulator)
    check_factory(counted.factory, settings.model, None)  # the run's server is not known yet
    backend = in_background(make_backend(settings, agent=counted.factory))
    assert backend is not None
    try:
        request = RowRequest(ROW, "Where is order 1?", None, settings.model, {"rowrelay_row": ROW}, 500)
        first = await backend.create(request)
        assert first.response_id is not None
        snapshot = await backend.retrieve(first.response_id)
        while not snapshot.terminal:  # the tool round (the helper agent) and the follow-up
            assert snapshot.response_id is not None
            snapshot = await backend.retrieve(snapshot.response_id)
    finally:
        await backend.aclose()
    assert snapshot.status == "completed"
    bodies = [record.body for record in emulator.emulator.records.values()]
    helpers = [body for body in bodies if body.get("instructions") == HELPER_INSTRUCTIONS]
    assert [body.get("model") for body in helpers] == [HELPER_MODEL], "the helper ran here, once"
    items = [item for body in bodies if isinstance(body.get("input"), list) for item in body["input"]]
    tool_outputs = [
        str(item.get("output"))
        for item in items
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    ]
    assert tool_outputs, "the follow-up answered the tool call"
    assert not any("error" in output.lower() for output in tool_outputs), tool_outputs
    assert counted.calls == 2, "the check's call, then the run's own for its client"
