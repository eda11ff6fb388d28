"""Batches with an image or a file column through the batch flow, against the emulator over a real socket
and a real Prefect API: local images and files are found beside the input wherever the run starts, a row
naming an image it cannot send fails alone and unsent, `run.json` records the columns so `export`
rebuilds the output, and a resume with other images (or another detail) is refused."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.state import read_run_record
from tests.support.duplicates import jobs_of
from tests.support.leaks import every_log_record
from tests.support.runs import flow_args

URL = "https://example.com/cat.jpg"


def _items(folder: Path, images: list[str]) -> Path:
    from PIL import Image  # Pillow comes with matplotlib (the `plots` extra the tests install)

    (folder / "photos").mkdir(exist_ok=True)
    Image.new("RGB", (48, 32), "blue").save(folder / "photos" / "a.png")
    source = folder / "items.csv"
    pd.DataFrame({"id": [f"i{n}" for n in range(len(images))], "image": images}).to_csv(source, index=False)
    return source


async def test_a_batch_sends_each_rows_images_and_fails_a_row_whose_image_is_missing_alone(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch
    from rowrelay.flows.export_command import export

    data = tmp_path / "data"
    data.mkdir()
    source = _items(data, ["photos/a.png", URL, "photos/missing.png", ""])
    monkeypatch.chdir(tmp_path)  # not the input's folder
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        args = flow_args(
            tmp_path, emu, template="What is in the picture?", id_column="id", image_column="image"
        )
        with every_log_record() as said:
            result = await run_batch(str(source), **args)
        started, _ = jobs_of(emu.url)
        assert started == {"i0": 1, "i1": 1, "i3": 1}  # the row with a missing image started nothing
        assert (
            "column 'image' is empty in 1 of the 3 rows sent (first: key 'i3'): sent without an image"
        ) in "\n".join(said)
        output = pd.read_parquet(result.output).set_index("id")
        assert output["rowrelay_status"].to_dict() == {
            "i0": "completed", "i1": "completed", "i2": "failed", "i3": "completed"
        }  # fmt: skip
        assert output.loc["i2", "error"] == (
            "image 'photos/missing.png' in column 'image': cannot be read (No such file or directory: "
            f"{data / 'photos' / 'missing.png'})"
        )
        record = read_run_record(tmp_path / "state")
        assert record is not None
        assert record.spec["image_column"] == "image"
        export(tmp_path / "state", output=tmp_path / "again.csv")
        again = pd.read_csv(tmp_path / "again.csv").set_index("id")
        assert again["rowrelay_status"].to_dict() == output["rowrelay_status"].to_dict()

        _items(data, ["photos/a.png", "https://example.com/dog.jpg", "photos/missing.png", ""])
        with pytest.raises(UsageError, match="changed"):
            await run_batch(str(source), **args)
        assert jobs_of(emu.url)[0] == started


async def test_a_batch_is_not_resumed_looking_at_its_images_otherwise_while_answers_are_kept(
    prefect_api: str, tmp_path: Path
) -> None:
    from rowrelay.flows.batch import run_batch

    source = _items(tmp_path, ["photos/a.png", URL, URL.replace("cat", "dog")])
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        args = flow_args(tmp_path, emu, template="Label: {id}", id_column="id", image_column="image")
        await run_batch(str(source), **args, limit=1)
        with pytest.raises(UsageError, match=r"image_detail='low' \(it ran without one\)"):
            await run_batch(str(source), **args, image_detail="low")
        result = await run_batch(str(source), **args)  # as it ran
        assert result.all_completed
        details = {
            part["detail"]
            for job in map(emu.emulator.job, emu.emulator.jobs)
            for part in job.body["input"][0]["content"][1:]
        }
    assert details == {"auto"}


async def test_a_batch_sends_each_rows_files_found_beside_the_input(prefect_api: str, tmp_path: Path) -> None:
    from rowrelay.flows.batch import run_batch

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.pdf").write_bytes(b"%PDF-1.7\n")
    source = tmp_path / "docs.csv"
    pd.DataFrame(
        {"id": ["d0", "d1"], "doc": ["docs/a.pdf", '["docs/a.pdf", "https://example.com/b.pdf"]']}
    ).to_csv(source, index=False)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        args = flow_args(tmp_path, emu, template="Total of the invoice?", id_column="id", file_column="doc")
        result = await run_batch(str(source), **args)
        sent = {
            record.body["metadata"]["rowrelay_row"]: [
                part.get("filename") or part.get("file_url")
                for part in record.body["input"][0]["content"][1:]
            ]
            for record in emu.emulator.records.values()
        }
    assert result.all_completed
    assert sent == {"d0": ["a.pdf"], "d1": ["a.pdf", "https://example.com/b.pdf"]}
    record = read_run_record(tmp_path / "state")
    assert record is not None
    assert record.spec["file_column"] == "doc"


async def test_a_parquet_inputs_own_image_bytes_are_sent(prefect_api: str, tmp_path: Path) -> None:
    from PIL import Image

    from rowrelay.flows.batch import run_batch

    Image.new("RGB", (48, 32), "red").save(tmp_path / "a.png")
    png = (tmp_path / "a.png").read_bytes()
    source = tmp_path / "items.parquet"
    pd.DataFrame({"id": ["p0", "p1"], "image": [{"bytes": png, "path": "a.png"}, None]}).to_parquet(source)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"))) as emu:
        args = flow_args(tmp_path, emu, template="What is it?", id_column="id", image_column="image")
        result = await run_batch(str(source), **args)
        sent = {
            record.body["metadata"]["rowrelay_row"]: record.body["input"]
            for record in emu.emulator.records.values()
        }
    assert result.all_completed
    assert sent["p1"] == "What is it?"
    assert (
        sent["p0"][0]["content"][1]["image_url"] == "data:image/png;base64," + base64.b64encode(png).decode()
    )
