"""Batches on an existing Dask cluster (`--dask ADDRESS`) through the CLI, against emulator processes:
one LocalCluster of 2 worker processes of 2 threads (tests/support/dask_cluster.py) serves every test of
this module, whose behaviour is a run on a cluster, not the cluster's start (each test started a
LocalCluster of its own through `--dask-workers`; tests/cluster/test_dask_runs.py and test_dask_budget.py
still do, end to end). Each test starts with both workers joined; the one that SIGKILLs a worker runs
last, closing the cluster after it. Every duplicate check compares the server's jobs per row with what
the row counted.

- a second run of the batch during a Dask run is refused;
- a worker reads the rows' images and files and sends them inline;
- each endpoint keeps its own budget across the workers, its key read from the workers' environment;
- a worker SIGKILLed mid-run loses nothing, and the run's closing `requests:` line counts its creates.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import openai
import pandas as pd
import psutil
import pytest

from rowrelay.tasks.state import load
from rowrelay.tasks.state.lease import LEASE_TIMEOUT, WHEN_IT_ENDS, read_lease
from tests.support.cli import IN_PROCESS, exit_code, rowrelay, run_args, wait_until
from tests.support.dask_cluster import SharedCluster, SharedClusters, shared_clusters
from tests.support.dask_runs import (
    assert_every_create_drew_on_the_one_budget,
    assert_finished_and_paid_for,
    env_on,
    holding,
    started,
)
from tests.support.duplicates import jobs_of
from tests.support.emulator_process import emulator_process
from tests.support.leases import write_lease
from tests.support.prefect_records import artifacts_of, flow_run_on
from tests.support.tickets import write_tickets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
WEST_KEY = "sk-west-test"
"""The second endpoint's key, in the workers' environment as an existing cluster's workers hold keys."""


@pytest.fixture(scope="module")
def clusters(prefect_env: dict[str, str]) -> Iterator[SharedClusters]:
    with shared_clusters({**prefect_env, "WEST_KEY": WEST_KEY}) as running:
        yield running


@pytest.fixture
def cluster(clusters: SharedClusters) -> SharedCluster:
    """The module's cluster, its two workers joined."""
    return clusters.ready()[0]


@pytest.fixture
def cluster_to_kill(clusters: SharedClusters) -> Iterator[tuple[SharedCluster, list[int]]]:
    """The module's cluster and its two workers' pids, for a test that SIGKILLs one: the cluster is
    closed after it, and the next test starts a fresh one. The killed worker's nanny starts it again, but
    twice at load 11-13 that worker had not joined a minute later. The test runs last."""
    yield clusters.ready()
    clusters.close()


def _shards_sending(state: Path) -> bool:
    """Whether some rows are in flight and others still wait to be sent, shards' leases held."""
    shards = list((state / "leases").glob("shard-*.json")) if (state / "leases").is_dir() else []
    if not shards or not (state / "batch.json").exists():
        return False
    with contextlib.suppress(Exception):  # a read racing a compaction: ask again
        frame = load(state)
        return bool(frame["response_id"].notna().any() and (frame["status"] == "pending").any())
    return False


def test_a_second_run_during_a_dask_run_is_refused(
    tmp_path: Path, prefect_env: dict[str, str], cluster: SharedCluster
) -> None:
    """The coordinator's lease, which no row write refreshes while the shards run on the workers, is
    kept alive, and a run is refused while another run's shard holds its lease live (its coordinator
    killed, or silent, while its Dask tasks run on). Before, 60 s into a Dask run a second run took the
    batch over as stale and sent the shards' rows again (92 jobs for 60 rows, 60 attempts)."""
    rows = 8
    source = write_tickets(tmp_path / "tickets.csv", rows)
    state, log = tmp_path / "state", tmp_path / "run.log"
    # two rows in flight at a time, 5 s each: the batch takes some 20 s, most rows waiting to be sent
    with emulator_process("--latency", "fixed:5") as emu:
        env = env_on(prefect_env, emu)
        args = [*run_args(source, tmp_path), "--max-in-flight", "2"]
        with started([*args, "--dask", cluster.address], env, log) as first:
            wait_until(lambda: _shards_sending(state), first, log)
            # The coordinator's lease as a run that never refreshed it leaves it, its heartbeat past the
            # timeout: without the shards' leases asked, the second run took the batch over.
            main = read_lease(state / "leases" / "main.json")
            assert main is not None
            assert main.pid == first.pid
            write_lease(state, replace(main, heartbeat=time.time() - LEASE_TIMEOUT - 30))
            second = rowrelay(args, env, command=IN_PROCESS)
            assert second.returncode == 2, second.stderr[-3000:]
            line = second.stderr.strip().splitlines()[-1]
            assert line.startswith(f"error: {state}: writer '"), line
            assert "' is held by a live runner (" in line, line
            assert line.endswith(WHEN_IT_ENDS), line
            assert exit_code(first, log, within=400) == 0, log.read_text()[-3000:]
        assert_finished_and_paid_for(state, emu, rows)


def test_a_workers_rows_send_their_images_and_files(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, cluster: SharedCluster
) -> None:
    """The shards carry each row's attachments; the workers read the local ones at their absolute paths
    and send them inline, and every job the server started is paid for by its row."""
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
        "--output", str(tmp_path / "out.csv"), "--dask", cluster.address,
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


def test_each_endpoint_keeps_its_own_budget_across_workers(
    tmp_path: Path, prefect_env: dict[str, str], prefect_api: str, cluster: SharedCluster
) -> None:
    """Two endpoints (`--endpoints`), each a server enforcing its own rate per second, on 2 workers:
    rows split by rpm, every create to each server granted at its rate by the one budget all the workers
    draw on, every job on the server the table names, the second endpoint's key read by the workers
    from the variable its entry names."""
    rows, east_rpm, west_rpm = 120, 1200, 600  # each endpoint's rows take ~4 s at its rate
    source = write_tickets(tmp_path / "tickets.csv", rows)
    limits = ("--rate-window", "1", "--latency", "fixed:0.5")
    with (
        emulator_process("--rpm", str(east_rpm), *limits) as east,
        emulator_process("--rpm", str(west_rpm), *limits) as west,
    ):
        endpoints = tmp_path / "endpoints.json"
        endpoints.write_text(json.dumps([
            {"name": "east", "backend": "emulator", "base_url": east.url, "rpm": east_rpm},
            {"name": "west", "backend": "openai", "base_url": west.url, "api_key_env": "WEST_KEY",
             "rpm": west_rpm},
        ]))  # fmt: skip
        env = {**prefect_env, "WEST_KEY": WEST_KEY}
        args = [*run_args(source, tmp_path), "--dask", cluster.address, "--endpoints", str(endpoints)]
        done = rowrelay(args, env, timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        frame = load(tmp_path / "state")
        assert set(frame["status"]) == {"completed"}
        assert Counter(frame["endpoint"]) == {"east": 80, "west": 40}  # 2:1, as their rpm
        jobs = {"east": jobs_of(east.url)[0], "west": jobs_of(west.url)[0]}
        for key, endpoint, attempts in zip(
            frame["row_key"], frame["endpoint"], frame["attempts"], strict=True
        ):
            other = "west" if endpoint == "east" else "east"
            assert (jobs[endpoint][key], jobs[other][key]) == (attempts, 0), key
        assert_every_create_drew_on_the_one_budget(
            tmp_path / "state", {"east": (east, east_rpm), "west": (west, west_rpm)}
        )


def _progress_shown(state: Path) -> tuple[float, str]:
    """The percentage the run's progress artifact shows in Prefect now (-1 before there is one), and its
    description."""

    async def read() -> tuple[float, str]:
        try:
            run = await flow_run_on(state)
        except AssertionError:
            return -1.0, ""  # the flow run is not created yet
        progress = [a for a in await artifacts_of(run.id) if a.type == "progress"]
        return (float(str(progress[0].data)), str(progress[0].description)) if progress else (-1.0, "")

    return asyncio.run(read())


def _mid_run(shown: tuple[float, str], seen: list[str]) -> bool:
    seen[:] = [shown[1]]
    return 0 < shown[0] < 100


ROWS = 200
QUARTERS = 4
"""2 workers of 2 threads: the batch runs as 4 shards of 50 consecutive rows."""


def _every_shard_has_sent(state: Path) -> bool:
    """Whether rows of every quarter of the batch (every shard's) have spent an attempt: whichever
    worker is killed then, creates it sent are on the table."""
    if not (state / "batch.json").exists():
        return False
    with contextlib.suppress(Exception):  # a read racing a compaction: ask again
        frame = load(state)
        sent = frame[frame["attempts"] > 0]
        return set(sent["row_index"] * QUARTERS // ROWS) == set(range(QUARTERS))
    return False


def test_a_worker_killed_mid_run_loses_nothing_and_the_requests_line_counts_its_creates(
    tmp_path: Path,
    prefect_env: dict[str, str],
    prefect_api: str,
    cluster_to_kill: tuple[SharedCluster, list[int]],
) -> None:
    """A worker SIGKILLed once every shard has sent: `status` mid-run reads every writer's rows, the
    coordinator's progress artifact moves on, every row completes, each job counted on its row, and the
    run's closing `requests:` line counts the dead worker's creates (the server's jobs, the rows'
    attempts), not only those of the shards' last runs, and says that a worker died."""
    cluster, workers = cluster_to_kill
    source = write_tickets(tmp_path / "tickets.csv", ROWS)
    state, log = tmp_path / "state", tmp_path / "run.log"
    with emulator_process("--latency", "fixed:3") as emu:
        # 10 creates a second: rows complete over some 20 s, long enough to see the artifact mid-run on
        # a loaded machine (at 3,000/min the whole batch could end before the test looked), and every
        # shard sends within the first
        args = [*run_args(source, tmp_path), "--dask", cluster.address, "--rpm", "600", "-v"]
        with started(args, env_on(prefect_env, emu), log) as run:
            wait_until(lambda: _every_shard_has_sent(state) and holding(state) >= 20, run, log)
            with emu.held_still():  # a slow status (load 13) once answered after every row had ended
                mid_run = rowrelay(["status", str(state)], env_on(prefect_env, emu))  # every writer's rows
            assert mid_run.returncode == 0, mid_run.stderr
            assert f"rows {ROWS} " in mid_run.stdout, mid_run.stdout
            assert "queued" in mid_run.stdout or "in_progress" in mid_run.stdout, mid_run.stdout
            psutil.Process(workers[0]).send_signal(signal.SIGKILL)
            # the coordinator's artifact, from what every worker wrote to the table, moves meanwhile,
            # saying what the rows answered so far cost (each worker prices its own)
            seen: list[str] = []
            wait_until(lambda: _mid_run(_progress_shown(state), seen), run, log)
            money = r"\$[\d.]+ spent \(~\$[\d.]+ projected\)"
            assert re.fullmatch(rf"\d+/{ROWS} rows done, \d+ in flight, {money}", seen[0]), seen[0]
            assert exit_code(run, log, within=400) == 0, log.read_text()[-3000:]
        assert_finished_and_paid_for(state, emu, ROWS)
        jobs, _unanswered = jobs_of(emu.url)
    lines = re.findall(r"requests: \d+ creates[^\n]*", log.read_text())
    assert len(lines) == 1, log.read_text()[-3000:]
    creates = int(lines[0].split()[1])
    frame = load(state)
    attempts, orphans = int(frame["attempts"].sum()), int(frame["orphans"].sum())
    assert creates == attempts, lines[0]  # old code: 176 creates said, 200 attempts
    # The killed worker's row caught between its `submitting` write and its create leaving is counted as
    # maybe sent (an attempt and an orphan) with no job on the server (ci123: 201 attempts, 200 jobs):
    # counted over, never under.
    assert 0 <= attempts - sum(jobs.values()) <= orphans, (attempts, dict(jobs), orphans)
    assert "; 1 Dask worker died mid-run: creates are counted from the state table" in lines[0], lines[0]
