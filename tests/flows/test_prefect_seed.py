"""A new local Prefect server's database is created from the schema the pinned Prefect's migrations make
(flows/prefect_seed.py), and the question "did the user configure a Prefect API?" is answered without
importing Prefect when no source could name one (flows/local_prefect.py). Both only ever shorten a first
run: the shipped schema must be exactly a fresh migration's, and a "no" must be Prefect's own answer."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rowrelay.flows import prefect_api
from rowrelay.flows.prefect_seed import DATABASE, SCHEMA, migrated_database, seed_database


def _revision(database: Path) -> str:
    with contextlib.closing(sqlite3.connect(database)) as db:
        (revision,) = db.execute("select version_num from alembic_version").fetchone()
    return str(revision)


def _shape(database: Path) -> dict[str, object]:
    """Every table's columns, foreign keys and indexes, every trigger and view, and the revision: the
    schema, whatever order a migration wrote a table's constraints in."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        objects = db.execute("select type, name, sql from sqlite_master order by type, name").fetchall()
        shape: dict[str, object] = {"revision": _revision(database)}
        for kind, name, sql in objects:
            if kind == "table":
                shape[name] = (
                    sorted(line.strip().rstrip(",") for line in sql.splitlines()),  # CHECKs too
                    db.execute(f'pragma table_info("{name}")').fetchall(),
                    sorted(row[2:] for row in db.execute(f'pragma foreign_key_list("{name}")')),
                )
            elif kind == "index":
                shape[name] = (sql, db.execute(f'pragma index_xinfo("{name}")').fetchall())
            else:
                shape[name] = sql
        return shape


def _blocks(database: Path) -> dict[str, object]:
    """The block types and schemas a server registers: by slug and checksum (their ids are random)."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        return {
            "types": sorted(db.execute("select slug, name, code_example from block_type").fetchall()),
            "schemas": sorted(db.execute("select checksum, version, fields from block_schema").fetchall()),
            "references": db.execute("select count(*) from block_schema_reference").fetchone(),
        }


def _dump(database: Path) -> str:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return "\n".join(db.iterdump())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_shipped_schema_and_block_types_are_what_the_installed_prefect_makes(tmp_path: Path) -> None:
    assert seed_database(tmp_path), (
        "prefect_schema.sql names another Prefect: run python -m rowrelay.flows.prefect_seed"
    )
    with migrated_database(blocks=True) as migrated:
        assert _shape(tmp_path / DATABASE) == _shape(migrated)
        registered = _blocks(migrated)
    assert _blocks(tmp_path / DATABASE) == registered
    assert len(registered["types"]) > 10  # type: ignore[arg-type]


def test_a_new_database_is_made_from_the_schema_and_an_existing_one_is_left_alone(tmp_path: Path) -> None:
    assert seed_database(tmp_path)
    database = tmp_path / DATABASE
    shipped = SCHEMA.read_text().partition("\n")[2].rstrip("\n")
    assert _dump(database) == shipped
    assert _revision(database) in shipped
    assert not (tmp_path / f"{DATABASE}.seeding").exists()

    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("insert into configuration (key, value) values ('mine', '{}')")
        db.commit()
    before = database.read_bytes()
    assert not seed_database(tmp_path)
    assert database.read_bytes() == before


def test_a_schema_made_by_another_prefect_version_is_not_used(tmp_path: Path) -> None:
    other = tmp_path / "schema.sql"
    header, _, dump = SCHEMA.read_text().partition("\n")
    other.write_text(f"{header}.post1\n{dump}")
    assert not seed_database(tmp_path, other)
    assert not (tmp_path / DATABASE).exists()
    assert not seed_database(tmp_path, tmp_path / "missing.sql")


def _prefects_answer(env: dict[str, str], cwd: Path) -> str:
    code = "from prefect.settings import get_current_settings; print(get_current_settings().api.url)"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.timeout(120)
def test_no_api_is_said_without_prefect_only_where_prefect_says_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    env.update(HOME=str(home), PREFECT_HOME=str(home / ".prefect"))
    monkeypatch.chdir(work)
    for name in [name for name in os.environ if name.startswith("PREFECT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PREFECT_HOME", str(home / ".prefect"))

    assert not prefect_api._sources_may_name_an_api()
    assert _prefects_answer(env, work) == "None"

    # Each source Prefect reads that could name an API makes rowrelay ask Prefect instead.
    (home / ".prefect").mkdir(exist_ok=True)
    profiles = home / ".prefect" / "profiles.toml"
    profiles.write_text('active = "mine"\n[profiles.mine]\nPREFECT_API_URL = "http://127.0.0.1:1/api"\n')
    assert prefect_api._sources_may_name_an_api()
    assert _prefects_answer(env, work) == "http://127.0.0.1:1/api"
    profiles.unlink()
    for source, text in (
        (".env", "PREFECT_API_URL=http://127.0.0.1:2/api\n"),
        ("prefect.toml", '[api]\nurl = "http://127.0.0.1:3/api"\n'),
        ("pyproject.toml", '[tool.prefect.api]\nurl = "http://127.0.0.1:4/api"\n'),
    ):
        (work / source).write_text(text)
        assert prefect_api._sources_may_name_an_api(), source
        (work / source).unlink()
    assert not prefect_api._sources_may_name_an_api()
    monkeypatch.setenv("PREFECT_PROFILE", "local")  # one of Prefect's own profiles, which names an API
    assert prefect_api._sources_may_name_an_api()
    monkeypatch.delenv("PREFECT_PROFILE")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:5/api")
    assert prefect_api._sources_may_name_an_api()
    monkeypatch.delenv("PREFECT_API_URL")
    assert not prefect_api._sources_may_name_an_api()
    # A process that imported Prefect (this one does now) asks it, whatever the sources say: its settings
    # may be overridden in the process (`temporary_settings`).
    import prefect.settings  # noqa: F401

    assert prefect_api._may_name_an_api()
