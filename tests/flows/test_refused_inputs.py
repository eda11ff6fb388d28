"""Inputs `rowrelay run` cannot read, refused as the project's rule says: exit 2 and one line naming the
file, before any request, server start or state, in a process where Prefect cannot be imported (so a
clean refusal proves the flow, the embedded emulator and every request were never reached).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.preforked import Preforked, preforked
from tests.support.refused_run import refused_line


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    with preforked(tmp_path_factory.mktemp("preforked")) as server:
        yield server


def _bytes_as_text(values: list[bytes]) -> pa.Array[Any]:
    raw = pa.array(values, pa.binary())
    return pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(["--template", "{text}"], id="in the prompt"),
        pytest.param(["--template", "{text}", "--id-column", "text"], id="as the id column"),
        pytest.param(["--template", "{id}", "--id-column", "id"], id="in no prompt"),
    ],
)
def test_a_parquet_text_column_that_is_not_utf8_is_refused_in_one_line_before_anything_starts(
    commands: Preforked, tmp_path: Path, options: list[str]
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": _bytes_as_text([b"ok", b"caf\xe9"])}), source)
    assert refused_line(commands, tmp_path, source, *options) == (
        f"error: cannot read {source} as parquet: column 'text' is not UTF-8 text at row 2 (it holds byte "
        "0xe9); write it as UTF-8, or as binary if it holds bytes"
    )


def test_stdin_is_refused_as_unsupported_not_as_a_missing_file(commands: Preforked, tmp_path: Path) -> None:
    assert refused_line(commands, tmp_path, "-", "--template", "{text}") == (
        "error: reading the input from stdin ('-') is not supported: give one CSV, TSV, Parquet, JSONL or "
        "JSON file (.csv, .tsv, .parquet, .pq, .jsonl, .ndjson, .json)"
    )


@pytest.mark.parametrize(
    ("options", "said"),
    [
        pytest.param(
            ["--template", "{notes}"],
            "--template '{notes}': renders blank in all 2 rows (column notes is empty, blank or missing in "
            "each), so there is nothing to send",
            id="template",
        ),
        pytest.param(
            ["--template", " {notes}\n{notes} "],
            "--template ' {notes}\\n{notes} ': renders blank in all 2 rows (column notes is empty, blank or "
            "missing in each), so there is nothing to send",
            id="template of spaces",
        ),
        pytest.param(
            ["--prompt-column", "notes"],
            "--prompt-column 'notes': empty, blank or missing in all 2 rows, so there is nothing to send",
            id="prompt column",
        ),
    ],
)
def test_a_prompt_blank_in_every_row_is_refused_before_anything_starts(
    commands: Preforked, tmp_path: Path, options: list[str], said: str
) -> None:
    # Each row alone would fail unsent as bad input; every row so, the run started Prefect and the
    # emulator only to fail them all and exit 1.
    source = tmp_path / "in.csv"
    source.write_text("id,text,notes\na,hello,\nb,world, \n", encoding="utf-8")
    assert refused_line(commands, tmp_path, source, *options) == f"error: {said}"


def test_an_agent_on_chat_completions_is_refused_before_anything_starts(
    commands: Preforked, tmp_path: Path
) -> None:
    # Refused as the flow built its backend, it came after Prefect had started and the state was written.
    source = tmp_path / "in.csv"
    source.write_text("id,text\na,hello\n", encoding="utf-8")
    options = ["--template", "{text}", "--agent", "mypkg.agents:make_agent", "--backend", "chat"]
    assert refused_line(commands, tmp_path, source, *options) == (
        "error: --agent: an agent runs on the Responses API, not on Chat Completions (--backend chat): run "
        "it with the backend emulator, openai or azure"
    )


def test_a_socks_proxy_the_lean_transport_cannot_speak_to_is_refused_before_anything_starts(
    commands: Preforked, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found as the flow built its clients, it came after Prefect had started (and, where httpx has no
    # SOCKS support, as a traceback from Prefect's own client).
    source = tmp_path / "in.csv"
    source.write_text("id,text\na,hello\n", encoding="utf-8")
    endpoints = tmp_path / "endpoints.toml"
    endpoints.write_text(
        '[[endpoints]]\nname = "far"\nbase_url = "https://api.example.invalid/v1"\napi_key_env = "FAR_KEY"\n'
    )
    monkeypatch.setenv("FAR_KEY", "sk-far")
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1")
    assert refused_line(
        commands, tmp_path, source, "--template", "{text}", "--endpoints", str(endpoints)
    ) == (
        "error: the proxy for https:// requests is socks5:// (from the environment's proxy variables), which "
        "the lean transport cannot speak to: set ROWRELAY_TRANSPORT=sdk, or name an http:// proxy"
    )


@pytest.mark.parametrize("named", ["input", "--state", "--output"])
def test_a_path_whose_name_is_not_utf8_is_refused_in_one_line_before_anything_starts(
    commands: Preforked, tmp_path: Path, named: str
) -> None:
    """A name that is not UTF-8 (a file unzipped from a Windows archive, `caf\\xe9.csv`) reaches Python
    with surrogate escapes, which the batch's UTF-8 records cannot hold: the run started Prefect and then
    ended in a `UnicodeEncodeError` traceback, exit 1, from the home's note, Prefect's parameters or
    `run.json`, whichever came first."""
    odd = os.fsdecode(b"caf\xe9")  # as the command line hands such a name to Python
    source = tmp_path / (f"{odd}.csv" if named == "input" else "in.csv")
    source.write_text("id,text\n1,a\n", encoding="utf-8")
    where = {
        "--state": ["--state", str(tmp_path / odd)],
        "--output": ["--output", str(tmp_path / f"{odd}.csv")],
    }
    line = refused_line(commands, tmp_path, source, "--template", "{text}", *where.get(named, []))
    given = source if named == "input" else tmp_path / (odd if named == "--state" else f"{odd}.csv")
    shown = os.fsencode(given).decode(errors="backslashreplace")
    assert line == (
        f"error: {named} {shown}: its name is not UTF-8 text, which the batch's records (its run.json, "
        "Prefect's flow run) cannot hold: rename it, or its folder, in UTF-8"
    )
    assert not (tmp_path / odd).exists()
