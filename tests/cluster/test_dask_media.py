"""A batch with images and files on a real Dask LocalCluster (1 worker process) through the CLI, against
an emulator process: the shards carry each row's attachments, the worker reads the local ones at their
absolute paths and sends them inline, and every job the server started is paid for by its row."""

from __future__ import annotations

import base64
from pathlib import Path

import openai
import pandas as pd
import pytest

from rowrelay.tasks.state import load
from tests.support.cli import rowrelay
from tests.support.dask_runs import assert_finished_and_paid_for, env_on
from tests.support.emulator_process import emulator_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_workers_rows_send_their_images_and_files(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str
) -> None:
    from PIL import Image  # Pillow comes with matplotlib (the `plots` extra the tests install)

    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 30), "green").save(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "b.pdf").write_bytes(b"%PDF-1.7\n<< /Type /Page >>\n")
    rows = 6
    source = tmp_path / "in" / "items.csv"
    frame = pd.DataFrame(
        {"id": [f"r{n}" for n in range(rows)], "image": ["a.png"] * rows, "doc": ["b.pdf"] * rows}
    )
    frame.to_csv(source, index=False)
    args = [
        "run", str(source), "--template", "Does the picture match the document?", "--id-column", "id",
        "--image-column", "image", "--file-column", "doc", "--state", str(tmp_path / "state"),
        "--output", str(tmp_path / "out.csv"), "--dask-workers", "1",
    ]  # fmt: skip
    with emulator_process("--latency", "fixed:0.2") as emu:
        done = rowrelay(args, env_on(prefect_env, emu), timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        assert_finished_and_paid_for(tmp_path / "state", emu, rows)
        image = "data:image/png;base64," + base64.b64encode((tmp_path / "in" / "a.png").read_bytes()).decode()
        with openai.OpenAI(base_url=emu.url, api_key="x") as client:
            for response_id in load(tmp_path / "state")["response_id"]:
                [message] = client.responses.input_items.list(str(response_id)).data
                parts = [part.model_dump(exclude_none=True) for part in message.content]  # type: ignore[union-attr]
                assert [part["type"] for part in parts] == ["input_text", "input_image", "input_file"]
                assert parts[1]["image_url"] == image
                assert parts[2]["filename"] == "b.pdf"
