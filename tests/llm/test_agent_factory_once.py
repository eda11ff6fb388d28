"""An `--agent` factory is called once per process: `rowrelay run` checks it before anything starts, and
its run takes the agent the check built instead of calling the factory again (a slow factory took 8 s
each time), pointed at the run's server. Against the emulator over a real socket."""

from __future__ import annotations

from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.llm import RowRequest, in_background
from rowrelay.tasks.llm.agent_factory import check_factory
from rowrelay.tasks.llm.client import make_backend
from tests.support.counted_factory import CountedFactory
from tests.support.runs import settings_for

ROW = "row-0001"


async def test_the_run_takes_the_agent_its_check_built_and_sends_to_the_runs_server(
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
        while not snapshot.terminal:  # the tool round (the helper agent, on the same client) and its end
            assert snapshot.response_id is not None
            snapshot = await backend.retrieve(snapshot.response_id)
    finally:
        await backend.aclose()
    assert counted.calls == 1
    assert snapshot.status == "completed"
    asked = [record.body.get("instructions") for record in emulator.emulator.records.values()]
    assert "Say where the order is." in asked, "the helper, built on the same client, followed it here"
    # Another build in the process (a second endpoint's session) calls the factory: its own client.
    second = make_backend(settings, agent=counted.factory)
    await second.aclose()
    assert counted.calls == 2
