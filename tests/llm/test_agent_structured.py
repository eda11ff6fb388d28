"""Agent Framework rows with structured outputs: the schema goes out as AF's own `response_format`
option, which AF sends as the Responses API's strict `text.format`, and each answer is validated."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm.structured import load_output_schema
from rowrelay.tasks.run import open_session
from rowrelay.tasks.state import load
from tests.llm.agent_factories import make_agent
from tests.support.runs import new_table, prompts, settings_for
from tests.support.structured import AllTypes


async def test_an_agents_rows_send_the_schema_and_their_answers_validate(tmp_path: Path) -> None:
    schema = load_output_schema(AllTypes)
    table = new_table(tmp_path / "batch", 8)
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), invalid_json_rate=0.3, seed=5)
    with running_emulator(config) as emu:
        session = open_session(
            settings_for(emu, max_attempts=5), table, prompts(8), agent=make_agent, output_schema=schema
        )
        try:
            report = await session.runner.run()
        finally:
            await session.aclose()
            table.close()
        formats = [record.body["text"]["format"] for record in emu.emulator.records.values()]
    assert all(f == schema.text_format() for f in formats)
    assert len(formats) > 8, "answers that broke the schema were sent again"
    assert report.counts == {"completed": 8}
    for text in load(tmp_path / "batch")["output_text"]:
        jsonschema.validate(json.loads(text), schema.schema)
