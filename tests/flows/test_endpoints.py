"""Several endpoints for one batch, on two real emulators over real sockets: rows spread by rpm, each
endpoint's limit kept, every row's job on the server the state table says created it, tokens resumed and
cancelled on their own server, keys kept out of every file, bad endpoints files refused in one line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rowrelay.flows.cli import app
from rowrelay.tasks.dataset import InputSpec, prepare, read_input
from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, RunningEmulator, running_emulator
from rowrelay.tasks.errors import OutageError, UsageError
from rowrelay.tasks.llm import RowRequest, make_backend
from rowrelay.tasks.records import HOLDING_TOKEN
from rowrelay.tasks.run import Cancelled
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import RunRecord, StateTable, load, summary, write_run_record
from tests.support.runs import creates_per_row
from tests.support.tickets import TEMPLATE, write_tickets

WEST_KEY = "ROWRELAY_TEST_WEST_KEY"
SECRET = "sk-west-never-written-anywhere"


def _endpoints(
    east: RunningEmulator, west: RunningEmulator, *, east_rpm: int, west_rpm: int
) -> list[dict[str, Any]]:
    """East: the emulator backend; west: an OpenAI-compatible server reached with a key from a variable."""
    return [
        {"name": "east", "backend": "emulator", "base_url": east.url, "rpm": east_rpm},
        {"name": "west", "backend": "openai", "base_url": west.url, "api_key_env": WEST_KEY, "rpm": west_rpm},
    ]


def _args(tmp_path: Path, endpoints: Any) -> dict[str, Any]:
    return {
        "template": TEMPLATE, "id_column": "ticket_id", "state": str(tmp_path / "state"),
        "output": str(tmp_path / "out.parquet"), "endpoints": endpoints,
    }  # fmt: skip


def _all_bytes(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file())


async def test_rows_spread_by_rpm_each_endpoint_within_its_own_limit_and_every_job_where_the_table_says(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv(WEST_KEY, SECRET)
    source = write_tickets(tmp_path / "tickets.csv", 120)
    latency = LatencySpec.parse("fixed:0.2")
    # Each emulator enforces its own limit per second: a burst of a minute's creates would earn 429s.
    with (
        running_emulator(EmulatorConfig(latency=latency, rpm=1200, rate_window=1.0)) as east,
        running_emulator(EmulatorConfig(latency=latency, rpm=600, rate_window=1.0)) as west,
    ):
        endpoints_file = tmp_path / "endpoints.json"
        endpoints_file.write_text(json.dumps(_endpoints(east, west, east_rpm=1200, west_rpm=600)))
        result = await run_batch(str(source), **_args(tmp_path, str(endpoints_file)))
        jobs = {"east": creates_per_row(east), "west": creates_per_row(west)}
        codes = {"east": east.emulator.stats()["status_codes"], "west": west.emulator.stats()["status_codes"]}
    assert result.counts["completed"] == 120
    frame = load(tmp_path / "state")
    assert Counter(frame["endpoint"]) == {"east": 80, "west": 40}  # 2:1, as their rpm
    assert summary(tmp_path / "state")["endpoints"] == {"east": 80, "west": 40}  # what `status` shows
    for key, endpoint, attempts in zip(frame["row_key"], frame["endpoint"], frame["attempts"], strict=True):
        other = "west" if endpoint == "east" else "east"
        assert (jobs[endpoint][key], jobs[other][key]) == (attempts, 0), key
    for name in ("east", "west"):
        creates = sum(jobs[name].values())
        assert codes[name].get("429", 0) <= 0.01 * creates, (name, codes[name])
    record = json.loads((tmp_path / "state" / "run.json").read_text())
    assert [(e["name"], e["base_url"]) for e in record["endpoints"]] == [
        ("east", east.url),
        ("west", west.url),
    ]
    assert record["endpoints"][1]["api_key_env"] == WEST_KEY  # the variable's name, to cancel with later
    assert SECRET.encode() not in _all_bytes(tmp_path)  # not in the state table, run.json or the output


async def test_a_key_one_endpoint_refuses_stops_the_run_naming_that_endpoint(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 401 stops the whole run; with several endpoints (several keys) it must say whose key it was."""
    from rowrelay.flows.batch import run_batch
    from rowrelay.tasks.llm import BackendRefusedError

    monkeypatch.setenv(WEST_KEY, "sk-not-the-one-west-takes")
    source = write_tickets(tmp_path / "tickets.csv", 12)
    latency = LatencySpec.parse("fixed:0.5")
    with (
        running_emulator(EmulatorConfig(latency=latency)) as east,
        running_emulator(EmulatorConfig(latency=latency, api_key=SECRET)) as west,
    ):
        endpoints_file = tmp_path / "endpoints.json"
        endpoints_file.write_text(json.dumps(_endpoints(east, west, east_rpm=600, west_rpm=600)))
        with pytest.raises(
            BackendRefusedError, match=r"^endpoint 'west': the server refused our credentials"
        ):
            await run_batch(str(source), **_args(tmp_path, str(endpoints_file)))
        assert west.emulator.listing() == []  # it started nothing


async def _hold_tokens(
    state: Path, source: Path, on: dict[str, tuple[RunningEmulator, list[int]]]
) -> list[str]:
    """Plan the batch and send rows by hand, as a run that crashed while they were in flight would have:
    row `i` of `on[name]` created on that emulator and recorded as holding its token there."""
    prepared = prepare(read_input(source), InputSpec(TEMPLATE, None, "ticket_id", None))
    keys: list[str] = prepared.planned().column("row_key").to_pylist()  # type: ignore[assignment]
    held: list[str] = []
    with StateTable.open(state) as table:
        table.add_pending(prepared.planned())
        for name, (emu, rows) in on.items():
            backend = make_backend(Settings(backend="emulator", base_url=emu.url))
            try:
                for row in rows:
                    key = keys[row]
                    request = RowRequest(
                        key, prepared.prompt(key), None, "gpt-4.1-mini", {"rowrelay_row": key}
                    )
                    snapshot = await backend.create(request)
                    table.transition(key, "submitting", attempts=1, endpoint=name)
                    table.transition(key, snapshot.status, response_id=snapshot.response_id)
                    held.append(key)
            finally:
                await backend.aclose()
    return held


async def test_a_resumed_batch_polls_each_token_on_the_server_that_created_it(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv(WEST_KEY, SECRET)
    source = write_tickets(tmp_path / "tickets.csv", 12)
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:0.5"))
    with running_emulator(config) as east, running_emulator(config) as west:
        held = await _hold_tokens(
            tmp_path / "state", source, {"east": (east, [0, 1, 2]), "west": (west, [3, 4, 5])}
        )
        before = (east.emulator.stats()["routes"], west.emulator.stats()["routes"])
        endpoints = _endpoints(east, west, east_rpm=600, west_rpm=600)
        with pytest.raises(UsageError, match=r"cannot reach \(3 on endpoint 'west'\)"):
            await run_batch(str(source), **_args(tmp_path, endpoints[:1]))
        assert (east.emulator.stats()["routes"], west.emulator.stats()["routes"]) == before  # nothing sent
        result = await run_batch(str(source), **_args(tmp_path, endpoints))
        jobs = {"east": creates_per_row(east), "west": creates_per_row(west)}
        codes = {"east": east.emulator.stats()["status_codes"], "west": west.emulator.stats()["status_codes"]}
    assert result.counts["completed"] == 12
    frame = load(tmp_path / "state").set_index("row_key")
    for key in held:
        name = str(frame.loc[key, "endpoint"])
        other = "west" if name == "east" else "east"
        # Waited on where it was made: never expired there, never sent again.
        assert frame.loc[key, "attempts"] == 1, key
        assert (jobs[name][key], jobs[other][key]) == (1, 0), key
    assert held[:3] == [key for key in held if frame.loc[key, "endpoint"] == "east"]
    assert "404" not in codes["east"]  # no server was asked for a response it does not hold
    assert "404" not in codes["west"]


async def test_an_endpoint_gone_dark_stops_the_run_and_leaves_the_other_endpoints_responses_running(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dark_address: str
) -> None:
    """An outage (as a refused key, or a full disk) is about the run: it stops every shard, and the
    responses in flight go on, the other endpoints' too, for the next run to wait on. Cancelling them
    would throw away paid work for a fault that is not theirs."""
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv(WEST_KEY, SECRET)
    source = write_tickets(tmp_path / "tickets.csv", 12)
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:60"))) as east:
        # In flight on east before the run starts, so no timing decides whether east had any.
        held = await _hold_tokens(tmp_path / "state", source, {"east": (east, [0, 1, 2])})
        dark = f"{dark_address}/v1"  # nothing listens: every request to west is refused
        entries = [
            {"name": "east", "backend": "emulator", "base_url": east.url, "rpm": 600},
            {"name": "west", "backend": "openai", "base_url": dark, "api_key_env": WEST_KEY, "rpm": 600},
        ]
        with pytest.raises(
            OutageError, match=r"^endpoint 'west': the server has answered no request for 1 s"
        ):
            await run_batch(str(source), **_args(tmp_path, entries), give_up_after=1.0)
        on_east = Counter(job["status"] for job in east.emulator.listing())
        jobs = creates_per_row(east)
    assert set(on_east) <= {"queued", "in_progress"}, on_east  # none cancelled
    frame = load(tmp_path / "state").set_index("row_key")
    assert set(held) <= set(jobs)
    for key, made in jobs.items():
        assert frame.loc[key, "status"] in HOLDING_TOKEN, (key, frame.loc[key, "status"])
        assert frame.loc[key, "endpoint"] == "east"
        assert frame.loc[key, "attempts"] == made == 1, key


async def test_cancel_reaches_every_in_flight_row_on_its_own_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowrelay.flows.cancelling import cancel_batch_async

    monkeypatch.setenv(WEST_KEY, SECRET)
    source = write_tickets(tmp_path / "tickets.csv", 6)
    config = EmulatorConfig(latency=LatencySpec.parse("fixed:60"))
    with running_emulator(config) as east, running_emulator(config) as west:
        state = tmp_path / "state"
        await _hold_tokens(state, source, {"east": (east, [0, 1]), "west": (west, [2, 3, 4])})
        entries = _endpoints(east, west, east_rpm=600, west_rpm=600)
        out = str(tmp_path / "out.csv")
        record = RunRecord(
            output=out, backend="emulator", model="gpt-4.1-mini", mode="poll", endpoints=entries
        )
        write_run_record(state, record)
        assert await cancel_batch_async(state) == Cancelled(5)
        east_final = Counter(r["status"] for r in east.emulator.listing())
        west_final = Counter(r["status"] for r in west.emulator.listing())
    assert (east_final, west_final) == ({"cancelled": 2}, {"cancelled": 3})
    assert Counter(load(state)["status"]) == {"cancelled": 5, "pending": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"name": "a", "base_url": "{url}", "backend": "emulator", "rpmm": 5}]',
         "endpoint 'a': unknown field 'rpmm' (known: name, backend, base_url, api_key_env, azure_endpoint, "
         "azure_api_key_env, azure_auth, azure_api_version, model, rpm, tpm, poll_rpm, max_in_flight)"),
        ('[{"name": "a", "backend": "emulator"}, {"name": "a", "backend": "emulator"}]',
         "endpoint name(s) listed twice: a"),
        ('[{"name": "a", "base_url": "{url}", "api_key_env": "ROWRELAY_TEST_UNSET"}]',
         "endpoint 'a': environment variable ROWRELAY_TEST_UNSET is not set (it should hold the key)"),
        ('[{"name": "a", "base_url": "{url}", "api_key": "sk-literal-in-the-file"}]',
         "endpoint 'a': 'api_key' would put a key in the file; keep the key in an environment variable and "
         "name that variable with api_key_env (or azure_api_key_env)"),
        ('[{"name": "a", "base_url": "{url}"}]',
         "endpoint 'a': no API key: name the variable holding it with api_key_env (or set OPENAI_API_KEY)"),
        (None, "cannot read it (No such file or directory)"),
    ],
)  # fmt: skip
def test_a_bad_endpoints_file_exits_2_in_one_line_before_anything_is_sent(
    tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, text: str | None, message: str
) -> None:
    for variable in ("OPENAI_API_KEY", "ROWRELAY_API_KEY", "ROWRELAY_TEST_UNSET"):
        monkeypatch.delenv(variable, raising=False)
    source = write_tickets(tmp_path / "tickets.csv", 5)
    path = tmp_path / "endpoints.json"
    if text is not None:
        path.write_text(text.replace("{url}", emulator.url))
    args = ["run", str(source), "--template", "{subject}", "--id-column", "ticket_id", "--state",
            str(tmp_path / "state"), "--endpoints", str(path)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    expected = message.replace("{path}", str(path))
    assert result.stderr == f"error: --endpoints {path}: {expected}\n"
    assert "sk-literal-in-the-file" not in result.output
    assert emulator.emulator.listing() == []
    assert not (tmp_path / "state").exists()


async def test_a_run_whose_endpoints_share_a_backend_is_labelled_by_it(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's own settings name no server, so every endpoints run was labelled "emulator": its record,
    its Prefect tag and its closing line, though no emulator served it."""
    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv(WEST_KEY, SECRET)
    source = write_tickets(tmp_path / "tickets.csv", 4)
    with running_emulator(EmulatorConfig()) as one, running_emulator(EmulatorConfig()) as two:
        endpoints = [
            {"name": name, "backend": "openai", "base_url": emu.url, "api_key_env": WEST_KEY}
            for name, emu in (("one", one), ("two", two))
        ]
        result = await run_batch(str(source), **_args(tmp_path, endpoints))
    assert result.counts["completed"] == 4
    assert result.backend == "openai"
    assert json.loads((tmp_path / "state" / "run.json").read_text())["backend"] == "openai"


async def test_a_run_whose_endpoints_have_several_backends_is_labelled_by_them_all(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over two backends the run was labelled by its own settings, which name neither: "emulator", with
    nothing else configured, in its Prefect tags and its closing line."""
    from prefect.client.orchestration import get_client

    from rowrelay.flows.batch import run_batch

    monkeypatch.setenv(WEST_KEY, SECRET)
    source = write_tickets(tmp_path / "tickets.csv", 4)
    with running_emulator(EmulatorConfig()) as one, running_emulator(EmulatorConfig()) as two:
        endpoints = [
            {"name": name, "backend": backend, "base_url": emu.url, "api_key_env": WEST_KEY}
            for name, backend, emu in (("responses", "openai", one), ("completions", "chat", two))
        ]
        state = await run_batch(str(source), **_args(tmp_path, endpoints), return_state=True)
    result = await state.result()
    assert result.counts["completed"] == 4
    assert result.backend == "chat+openai"
    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)
    assert "backend:chat+openai" in run.tags, run.tags


def test_an_endpoints_run_is_created_tagged_by_its_endpoints_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI and a deployment tag a run as it is created: an endpoints run was tagged by the run's own
    settings (`backend:emulator` with nothing else configured), then given its real backend beside it."""
    from rowrelay.flows.request import BatchRequest
    from rowrelay.flows.run_labels import tags_of

    monkeypatch.setenv(WEST_KEY, SECRET)
    endpoints = [
        {"name": name, "backend": backend, "base_url": "http://127.0.0.1:9/v1", "api_key_env": WEST_KEY}
        for name, backend in (("responses", "openai"), ("completions", "chat"), ("more", "openai"))
    ]
    request = BatchRequest.build("in.csv", template="{x}", endpoints=endpoints)
    assert [tag for tag in tags_of("nightly", request) if tag.startswith("backend:")] == [
        "backend:chat+openai"
    ]
    alone = BatchRequest.build("in.csv", template="{x}", backend="emulator")
    assert "backend:emulator" in tags_of("nightly", alone)
