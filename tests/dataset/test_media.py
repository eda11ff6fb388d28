"""`--image-column` and `--file-column` at planning: what a cell may name, where a local file is looked
for, which rows fail alone (and why), and what a row's attachments do to its input hash and the batch's
fingerprint."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rowrelay.tasks.dataset import InputSpec, PreparedInput, prepare, read_prepared
from rowrelay.tasks.errors import UsageError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # the format is told by the name; the server reads the bytes
URL = "https://example.com/cat.jpg"
FILE_ID = "file-6F2ksmvXxt4VdoqmHRw6kL"


def _spec(**extra: str) -> InputSpec:
    return InputSpec(template="Describe: {caption}", id_column="id", image_column="image", **extra)


def _refs(prepared: PreparedInput, key: str, kind: str = "image") -> tuple[str, ...]:
    """The references a row sends, all of `kind`."""
    assert prepared.attachments is not None
    attached = prepared.attachments(key)
    assert {item.kind for item in attached} <= {kind}
    return tuple(item.ref for item in attached)


def _frame(images: list[object]) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [str(i) for i in range(len(images))], "caption": ["x"] * len(images), "image": images}
    )


def test_each_kind_of_reference_is_sent_as_named_and_local_files_are_found_beside_the_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(PNG)
    (tmp_path / "photos" / "b.JPG").write_bytes(PNG)
    cells: list[object] = [
        "photos/a.png",
        URL,
        FILE_ID,
        '["photos/a.png", "photos/b.JPG"]',
        "",
        None,
        "data:image/png;base64,iVBO",
    ]
    _frame(cells).to_csv(tmp_path / "items.csv", index=False)
    monkeypatch.chdir(tmp_path.parent)  # not the input's folder: paths are the input file's
    prepared = read_prepared(tmp_path / "items.csv", _spec())
    a, b = str(tmp_path / "photos" / "a.png"), str(tmp_path / "photos" / "b.JPG")
    assert [_refs(prepared, str(i)) for i in range(len(cells))] == [
        (a,), (URL,), (FILE_ID,), (a, b), (), (), ("data:image/png;base64,iVBO",)
    ]  # fmt: skip
    assert prepared.bad_rows == {}
    assert prepared.gaps["image"].to_pylist() == ["4", "5"]  # sent with their text alone, and said so


def test_a_parquet_list_column_names_several_images(tmp_path: Path) -> None:
    frame = _frame([[URL, FILE_ID], []])
    frame.to_parquet(tmp_path / "items.parquet")
    prepared = read_prepared(tmp_path / "items.parquet", _spec())
    assert _refs(prepared, "0") == (URL, FILE_ID)
    assert _refs(prepared, "1") == ()


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("photos/missing.png", "cannot be read (No such file or directory: {folder}/photos/missing.png)"),
        ("photos/notes.txt", "not a PNG, JPEG, GIF or WebP file (by its name)"),
        ("photos", "not a PNG, JPEG, GIF or WebP file (by its name)"),
        ("photos/dir.png", "not a file ({folder}/photos/dir.png)"),
        (
            "s3://bucket/a.png",
            "not an http(s) URL, a data URL, an uploaded file id (file-...) or a local file",
        ),
        ("data:text/plain;base64,aGk=", "a data URL that is not a base64 PNG, JPEG, GIF or WebP image"),
        ('["https://example.com/a.png", "gone.gif"]', "cannot be read (No such file or directory: "),
    ],
)
def test_a_row_naming_an_image_it_cannot_send_fails_alone_with_the_reason(
    tmp_path: Path, cell: str, reason: str
) -> None:
    (tmp_path / "photos" / "dir.png").mkdir(parents=True)
    (tmp_path / "photos" / "notes.txt").write_text("hi")
    frame = _frame([URL, cell])
    prepared = prepare(frame, _spec(), tmp_path)
    assert list(prepared.bad_rows) == ["1"]
    assert prepared.bad_rows["1"].startswith("image ")
    assert "in column 'image': " + reason.format(folder=tmp_path) in prepared.bad_rows["1"]
    assert [row.row_key for row in prepared.sendable_rows] == ["0"]


def test_a_blank_prompt_with_an_image_is_sent_and_without_one_fails_alone(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["0", "1"], "p": ["", ""], "image": [URL, None]})
    prepared = prepare(frame, InputSpec(prompt_column="p", id_column="id", image_column="image"), tmp_path)
    assert list(prepared.bad_rows) == ["1"]
    assert prepared.bad_rows["1"].startswith("empty prompt")


def test_an_absent_image_column_is_refused_naming_the_columns() -> None:
    with pytest.raises(
        UsageError, match=r"image column 'photo' is not in the input \(available: id, caption"
    ):
        prepare(_frame([URL]), InputSpec(template="{caption}", image_column="photo"))


def test_images_are_part_of_a_rows_input_hash_and_rows_without_keep_a_text_batchs(tmp_path: Path) -> None:
    """A row's images are what it asks as much as its text: other images, another hash (a resume with
    them is refused as a changed input). A row with none hashes as it would in a batch without images,
    and a batch without an image column keeps the fingerprint earlier releases gave it."""
    text_only = prepare(_frame([None, None]), InputSpec(template="Describe: {caption}", id_column="id"))
    with_images = prepare(_frame([URL, None]), _spec(), tmp_path)
    other_image = prepare(_frame(["https://example.com/dog.jpg", None]), _spec(), tmp_path)
    hashes = [prepared.hashes.to_pylist() for prepared in (text_only, with_images, other_image)]
    assert hashes[0][1] == hashes[1][1] == hashes[2][1]
    assert len({hashes[0][0], hashes[1][0], hashes[2][0]}) == 3
    assert text_only.fingerprint != prepare(_frame([None, None]), _spec(), tmp_path).fingerprint
    assert text_only.media == ()
    assert text_only.attachments is None
    # The fingerprint of a text-only batch, as releases before image columns computed it.
    assert text_only.fingerprint == "0e7470c43d552331afc37c7034df55a7"


def test_images_of_rows_keyed_by_their_hash_are_found_by_that_key(tmp_path: Path) -> None:
    frame = _frame([URL, FILE_ID]).drop(columns="id")
    prepared = prepare(frame, InputSpec(template="Describe: {caption}", image_column="image"), tmp_path)
    keys = prepared.keys.to_pylist()
    assert keys[0] != keys[1]  # the same text, told apart by their images
    assert [_refs(prepared, str(key)) for key in keys] == [(URL,), (FILE_ID,)]


def test_with_images_every_row_may_be_asked_the_same_question_and_without_not(tmp_path: Path) -> None:
    template = 'What is in the picture? Reply like {{"label": "x"}}'
    with pytest.raises(UsageError, match="template names no column, so every row would get the same prompt"):
        InputSpec(template=template, id_column="id")
    prepared = prepare(
        _frame([URL, FILE_ID]), InputSpec(template=template, id_column="id", image_column="image")
    )
    assert [row.prompt for row in prepared.rows] == ['What is in the picture? Reply like {"label": "x"}'] * 2
    assert prepared.bad_rows == {}


def test_a_file_column_names_documents_of_any_type_and_goes_after_the_images(tmp_path: Path) -> None:
    """Files (`--file-column`): the server reads a document's type from its name (PDFs, text, Office,
    spreadsheets), so any local file is taken; a data URL names no file and fails its row alone."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "invoice.pdf").write_bytes(b"%PDF-1.7\n")
    (tmp_path / "docs" / "ledger.csv").write_text("a,b\n1,2\n")
    frame = pd.DataFrame(
        {
            "id": ["0", "1", "2", "3"],
            "image": [URL, None, None, None],
            "doc": ['["docs/invoice.pdf", "docs/ledger.csv"]', "https://example.com/a.pdf", FILE_ID,
                    "data:application/pdf;base64,JVBERi0="],
        }
    )  # fmt: skip
    spec = InputSpec(template="Total?", id_column="id", image_column="image", file_column="doc")
    prepared = prepare(frame, spec, tmp_path)
    assert prepared.attachments is not None
    first = prepared.attachments("0")
    assert [(item.kind, item.ref) for item in first] == [
        ("image", URL),
        ("file", str(tmp_path / "docs" / "invoice.pdf")),
        ("file", str(tmp_path / "docs" / "ledger.csv")),
    ]
    assert _refs(prepared, "1", "file") == ("https://example.com/a.pdf",)
    assert _refs(prepared, "2", "file") == (FILE_ID,)
    assert prepared.bad_rows == {
        "3": "file 'data:application/pdf;base64,JVBERi0=' in column 'doc': a data URL names no file: give "
        "the file's path, URL or uploaded id"
    }
    assert prepared.gaps["image"].to_pylist() == ["1", "2"]  # row 3 fails: it is not sent at all
    text_and_images = prepare(
        frame, InputSpec(template="Total?", id_column="id", image_column="image"), tmp_path
    )
    assert text_and_images.fingerprint != prepared.fingerprint
    assert text_and_images.hashes.to_pylist()[0] != prepared.hashes.to_pylist()[0]


def test_a_missing_file_fails_its_row_and_an_absent_file_column_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["0"], "p": ["Summarise"], "doc": ["gone.pdf"]})
    prepared = prepare(frame, InputSpec(prompt_column="p", id_column="id", file_column="doc"), tmp_path)
    assert prepared.bad_rows == {
        "0": "file 'gone.pdf' in column 'doc': cannot be read (No such file or directory: "
        f"{tmp_path / 'gone.pdf'})"
    }
    with pytest.raises(UsageError, match=r"file column 'pdf' is not in the input \(available: id, p, doc\)"):
        prepare(frame, InputSpec(prompt_column="p", id_column="id", file_column="pdf"))


def test_images_held_as_bytes_in_a_parquet_input_are_sent_inline_and_hashed_by_content(
    tmp_path: Path,
) -> None:
    """A Parquet binary column, or the image struct Hugging Face datasets write ({bytes, path}), holds
    the images themselves: each row sends its own bytes, and other bytes are another input."""
    png, gif = PNG, b"GIF89a" + b"\x00" * 16
    structs = [
        {"bytes": png, "path": "a.png"},
        {"bytes": None, "path": URL},
        {"bytes": b"not an image", "path": "x"},
    ]
    pd.DataFrame({"id": ["0", "1", "2"], "image": [png, gif, None]}).to_parquet(tmp_path / "binary.parquet")
    pd.DataFrame({"id": ["0", "1", "2"], "image": structs}).to_parquet(tmp_path / "structs.parquet")
    spec = InputSpec(template="What is it?", id_column="id", image_column="image")
    binary = read_prepared(tmp_path / "binary.parquet", spec)
    assert binary.attachments is not None
    [first], [second] = binary.attachments("0"), binary.attachments("1")
    assert (first.data, second.data) == (png, gif)
    assert binary.attachments("2") == ()
    assert binary.bad_rows == {}
    structs_read = read_prepared(tmp_path / "structs.parquet", spec)
    assert structs_read.attachments is not None
    assert [item.data for item in structs_read.attachments("0")] == [png]
    assert _refs(structs_read, "1") == (URL,)
    reason = structs_read.bad_rows["2"]
    assert reason.startswith("image 'bytes:")
    assert reason.endswith("in column 'image': bytes that are not a PNG, JPEG, GIF or WebP image")
    assert (
        binary.hashes.to_pylist()[0] == structs_read.hashes.to_pylist()[0]
    )  # the same image: the same input
    assert binary.hashes.to_pylist()[1] != structs_read.hashes.to_pylist()[1]
