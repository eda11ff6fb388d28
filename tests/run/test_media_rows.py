"""Rows with images and files, against the real emulator over a real socket through the official SDK:
each create carries its row's prompt, images and files as the API's content parts (a local file inline,
byte for byte), in poll and stream mode and on Chat Completions; a row whose image or file cannot be sent
fails alone, unsent."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.media_refs import Attachment, MediaKind
from rowrelay.tasks.run import inline_bytes, open_session
from rowrelay.tasks.run.inline_bytes import InlineBytes
from rowrelay.tasks.state import load
from tests.support.duplicates import assert_every_job_is_paid_for, jobs_of
from tests.support.runs import new_table, prompts, settings_for

URL = "https://example.com/cat.jpg"
FILE_ID = "file-6F2ksmvXxt4VdoqmHRw6kL"


@pytest.fixture
def emu() -> Any:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), seed=3)) as running:
        yield running


def _png(path: Path, width: int) -> Path:
    from PIL import Image  # Pillow comes with matplotlib (the `plots` extra the tests install)

    Image.new("RGB", (width, 32), "red").save(path)
    return path


async def _run(
    emu: Any, directory: Path, refs: Mapping[str, tuple[str, ...]], kind: MediaKind = "image", **settings: Any
) -> None:
    """A run over one row per key of `refs`, each sending its references as `kind`s."""
    attached = {key: tuple(Attachment(kind, ref) for ref in row) for key, row in refs.items()}
    await _run_attached(emu, directory, attached, **settings)


async def _run_attached(
    emu: Any, directory: Path, attached: Mapping[str, tuple[Attachment, ...]], **settings: Any
) -> None:
    table = new_table(directory, len(attached))
    session = open_session(settings_for(emu, **settings), table, prompts(len(attached)), attachments=attached)
    try:
        await session.runner.run()
    finally:
        await session.aclose()
        table.close()


def _data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_each_create_carries_its_rows_prompt_then_its_images(
    emu: Any, tmp_path: Path, mode: str
) -> None:
    one, two = _png(tmp_path / "one.png", 40), _png(tmp_path / "two.png", 70)
    images = {
        "row-0000": (str(one),),
        "row-0001": (URL, str(two)),
        "row-0002": (FILE_ID,),
        "row-0003": (),
    }
    await _run(emu, tmp_path / "state", images, mode=mode)
    frame = load(tmp_path / "state")
    assert set(frame["status"]) == {"completed"}
    assert_every_job_is_paid_for(frame, *jobs_of(emu.url))
    sent = {
        record.body["metadata"]["rowrelay_row"]: record.body["input"]
        for record in emu.emulator.records.values()
    }
    text = prompts(4)

    def message(key: str, *parts: dict[str, str]) -> list[dict[str, Any]]:
        return [{"role": "user", "content": [{"type": "input_text", "text": text[key]}, *parts]}]

    assert sent == {
        "row-0000": message(
            "row-0000", {"type": "input_image", "image_url": _data_url(one), "detail": "auto"}
        ),
        "row-0001": message(
            "row-0001",
            {"type": "input_image", "image_url": URL, "detail": "auto"},
            {"type": "input_image", "image_url": _data_url(two), "detail": "auto"},
        ),
        "row-0002": message("row-0002", {"type": "input_image", "file_id": FILE_ID, "detail": "auto"}),
        "row-0003": text["row-0003"],  # no image: the prompt alone, as a batch without images sends it
    }


async def test_chat_completions_takes_images_as_urls_and_refuses_a_file_id_unsent(
    emu: Any, tmp_path: Path
) -> None:
    one = _png(tmp_path / "one.png", 40)
    images = {"row-0000": (str(one), URL), "row-0001": (FILE_ID,)}
    await _run(emu, tmp_path / "state", images, backend="chat", api_key="x")
    frame = load(tmp_path / "state").set_index("row_key")
    assert frame.loc["row-0000", "status"] == "completed"
    assert frame.loc["row-0001", "status"] == "failed"
    assert frame.loc["row-0001", "error_type"] == "rejected"
    assert "Chat Completions takes images as URLs or local files, not this way" in str(
        frame.loc["row-0001", "error_message"]
    )
    jobs = [job for job in emu.emulator.jobs.values() if job.kind == "chat.completion"]
    assert [job.body["messages"] for job in jobs] == [
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompts(1)["row-0000"]},
                    {"type": "image_url", "image_url": {"url": _data_url(one), "detail": "auto"}},
                    {"type": "image_url", "image_url": {"url": URL, "detail": "auto"}},
                ],
            }
        ]
    ]  # one job: the refused row started none


async def test_an_image_gone_since_planning_fails_its_row_alone_unsent(emu: Any, tmp_path: Path) -> None:
    images = {"row-0000": (str(tmp_path / "gone.png"),), "row-0001": (URL,)}
    await _run(emu, tmp_path / "state", images)
    frame = load(tmp_path / "state").set_index("row_key")
    assert frame.loc["row-0001", "status"] == "completed"
    gone = frame.loc["row-0000"]
    assert (gone["status"], gone["error_type"], gone["attempts"]) == ("failed", "bad_input", 0)
    assert (
        gone["error_message"]
        == f"an attachment cannot be read (No such file or directory: {tmp_path / 'gone.png'})"
    )
    started, _ = jobs_of(emu.url)
    assert started == {"row-0001": 1}


@pytest.mark.parametrize("backend", ["emulator", "chat"])
async def test_the_runs_image_detail_goes_with_every_image(emu: Any, tmp_path: Path, backend: str) -> None:
    images = {"row-0000": (URL, URL.replace("cat", "dog"))}
    await _run(emu, tmp_path / "state", images, backend=backend, api_key="x", image_detail="low")
    assert set(load(tmp_path / "state")["status"]) == {"completed"}
    [job] = emu.emulator.jobs.values()
    if backend == "chat":
        details = [part["image_url"]["detail"] for part in job.body["messages"][0]["content"][1:]]
    else:
        details = [part["detail"] for part in job.body["input"][0]["content"][1:]]
    assert details == ["low", "low"]


async def test_a_row_whose_image_the_server_refuses_fails_alone_and_the_others_are_billed_for_theirs(
    emu: Any, tmp_path: Path
) -> None:
    """The server's 400 about one row's image (its `param` is the row's own `input`) fails that row as
    `rejected`, with the server's words, and never stops the run; the rows sent with images count their
    image tokens among their input tokens (as the emulator bills them, from the vision guide)."""
    big = _png(tmp_path / "big.png", 1024)  # 1024x32: 32 x 1 patches on gpt-4.1-mini, x 1.62 = 52 tokens
    images = {"row-0000": ("https://photos.invalid/a.png",), "row-0001": (str(big),), "row-0002": ()}
    await _run(emu, tmp_path / "state", images)
    frame = load(tmp_path / "state").set_index("row_key")
    refused = frame.loc["row-0000"]
    assert (refused["status"], refused["error_type"]) == ("failed", "rejected")
    assert "Error while downloading" in str(refused["error_message"])
    assert frame.loc[["row-0001", "row-0002"], "status"].tolist() == ["completed", "completed"]
    with_image, text_alone = frame.loc[["row-0001", "row-0002"], "input_tokens"].tolist()
    assert with_image == text_alone + 52  # the same length of prompt, and the image
    assert jobs_of(emu.url)[0] == {"row-0001": 1, "row-0002": 1}


async def test_files_go_inline_with_their_names_by_url_or_by_id(emu: Any, tmp_path: Path) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Page >> endobj\n")
    files = {"row-0000": (str(pdf),), "row-0001": ("https://example.com/a.pdf",), "row-0002": (FILE_ID,)}
    await _run(emu, tmp_path / "state", files, "file")
    assert set(load(tmp_path / "state")["status"]) == {"completed"}
    sent = {
        record.body["metadata"]["rowrelay_row"]: record.body["input"][0]["content"][1:]
        for record in emu.emulator.records.values()
    }
    inline = "data:application/pdf;base64," + base64.b64encode(pdf.read_bytes()).decode()
    assert sent == {
        "row-0000": [{"type": "input_file", "filename": "invoice.pdf", "file_data": inline}],
        "row-0001": [{"type": "input_file", "file_url": "https://example.com/a.pdf"}],
        "row-0002": [{"type": "input_file", "file_id": FILE_ID}],
    }


async def test_chat_completions_takes_files_inline_or_by_id_and_refuses_a_url_unsent(
    emu: Any, tmp_path: Path
) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    files = {"row-0000": (str(pdf), FILE_ID), "row-0001": ("https://example.com/a.pdf",)}
    await _run(emu, tmp_path / "state", files, "file", backend="chat", api_key="x")
    frame = load(tmp_path / "state").set_index("row_key")
    assert frame.loc["row-0000", "status"] == "completed"
    assert (frame.loc["row-0001", "status"], frame.loc["row-0001", "error_type"]) == ("failed", "rejected")
    assert "Chat Completions takes files as local files or uploaded file ids, not this way" in str(
        frame.loc["row-0001", "error_message"]
    )
    [job] = [job for job in emu.emulator.jobs.values() if job.kind == "chat.completion"]
    inline = "data:application/pdf;base64," + base64.b64encode(pdf.read_bytes()).decode()
    assert job.body["messages"][0]["content"][1:] == [
        {"type": "file", "file": {"filename": "invoice.pdf", "file_data": inline}},
        {"type": "file", "file": {"file_id": FILE_ID}},
    ]


async def test_rows_read_their_files_no_more_at_once_than_the_allowance_and_all_complete(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for 1,000 bytes of files at once, rows of 400-byte files go two at a time, and a row
    whose files alone exceed the allowance still goes (alone): none waits for ever."""
    held: list[int] = []
    release = InlineBytes.release

    def noted(self: InlineBytes, size: int) -> None:
        held.append(self.held)
        release(self, size)

    monkeypatch.setattr(inline_bytes, "INLINE_BYTES", 1_000)
    monkeypatch.setattr(InlineBytes, "release", noted)
    small, big = tmp_path / "small.pdf", tmp_path / "big.pdf"
    small.write_bytes(b"%PDF-1.7\n" + b"x" * 391)
    big.write_bytes(b"%PDF-1.7\n" + b"x" * 2_991)
    files = {f"row-{i:04d}": (str(small),) for i in range(8)} | {"row-0008": (str(big), str(small))}
    await _run(emu, tmp_path / "state", files, "file")
    assert set(load(tmp_path / "state")["status"]) == {"completed"}
    assert len(held) == 9
    assert max(held) == 1_000  # the big row's, clamped to the whole allowance; the small ones' 400 or 800
    assert set(held) <= {400, 800, 1_000}


async def test_an_image_held_as_bytes_goes_inline_as_its_own_type(emu: Any, tmp_path: Path) -> None:
    png = _png(tmp_path / "a.png", 40).read_bytes()
    attached = {"row-0000": (Attachment("image", "(image bytes in the input)", data=png),)}
    await _run_attached(emu, tmp_path / "state", attached)
    assert set(load(tmp_path / "state")["status"]) == {"completed"}
    [record] = emu.emulator.records.values()
    image = record.body["input"][0]["content"][1]
    assert image["image_url"] == "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_row_whose_create_answer_is_lost_after_its_files_were_sent_counts_its_job(
    tmp_path: Path, mode: str
) -> None:
    """A gateway loses a third of the creates' answers after their jobs started, on rows that read local
    files inline (the path through the file allowance): each such job is counted on its row as a possible
    duplicate, within its attempts, never paid silently."""
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.7\n<< /Type /Page >>\n")
    files = {f"row-{i:04d}": (str(pdf),) for i in range(20)}
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), gateway_error_rate=0.35, seed=9)
    with running_emulator(config) as lossy:
        await _run(lossy, tmp_path / "state", files, "file", mode=mode, max_attempts=3)
        jobs, unanswered = jobs_of(lossy.url)
    frame = load(tmp_path / "state")
    assert sum(unanswered.values()) > 0  # answers were lost: the guarantee was exercised
    assert_every_job_is_paid_for(frame, jobs, unanswered)
    assert int(frame["orphans"].sum()) == sum(unanswered.values())
