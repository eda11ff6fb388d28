"""`run_batch` over a template that renders blank in every row raises the `UsageError` `rowrelay run`
refuses it with (`precheck.check_prompts`), before the state is written: each row failed unsent as bad
input, the flow run ended with every row failed and nothing could ever be sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from rowrelay.tasks.emulator import running_emulator
from rowrelay.tasks.errors import UsageError
from tests.support.runs import flow_args


async def test_a_template_blank_in_every_row_is_refused_before_the_state_is_written(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = tmp_path / "in.csv"
    source.write_text("id,text,notes\na,hello,\nb,world,\n", encoding="utf-8")
    with running_emulator() as emu:
        args = {**flow_args(tmp_path, emu), "id_column": "id", "template": "{notes}"}
        with pytest.raises(UsageError) as caught:
            await run_batch(str(source), **args)
        assert emu.emulator.listing() == []
    assert str(caught.value) == (
        "template='{notes}': renders blank in all 2 rows (column notes is empty, blank or missing in "
        "each), so there is nothing to send"
    )
    assert not (tmp_path / "state").exists()
