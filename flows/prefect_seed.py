"""A new local Prefect server's database, created from the schema Prefect's own migrations produce.

Prefect migrates a new SQLite database at the server's first start: about 150 alembic steps, 8-16 s of
CPU on a 2-core machine, most of a machine's first `rowrelay run` (a server on a migrated database answers
in 6 s). The result of those migrations for the pinned Prefect ships with rowrelay as SQL
(`prefect_schema.sql`: the `sqlite3` dump of a database fresh from `prefect server database upgrade`,
its tables, indexes and alembic revision, and the block types and schemas a server registers when it
starts, no other rows). The local server's new database is created from it in milliseconds; the server
then finds it at the head revision, has nothing to migrate, and its first start skips registering block
types, which the database holds already (1.5 s of a first run here); later starts register as usual.

Seeded only when that is exactly what Prefect would have made: the dump's first line names the Prefect
version that made it, and it must be the installed one (after a change of the Prefect pin, the server
migrates as usual until `python -m rowrelay.flows.prefect_seed` rewrites the dump; a test compares the
shipped schema with a fresh migration's). An existing database is never touched. A server configured to
use another database (a connection URL in its environment) leaves the seeded file unused.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

from rowrelay.flows import detached

SCHEMA = Path(__file__).with_name("prefect_schema.sql")
DATABASE = "prefect.db"
"""The file Prefect's default connection URL names under its PREFECT_HOME."""
_HEADER = "-- made by prefect "


def seed_database(data: Path, schema: Path = SCHEMA) -> bool:
    """Create `data/prefect.db` from `schema` if there is no database and the schema is the installed
    Prefect's; returns whether it did. Atomic: a crash leaves no database or a whole one."""
    target = data / DATABASE
    if target.exists() or not schema.exists():
        return False
    header, _, dump = schema.read_text().partition("\n")
    if header != _HEADER + version("prefect"):
        return False
    partial = data / f"{DATABASE}.seeding"
    partial.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(partial)) as database:
        database.executescript(dump)
    partial.replace(target)
    return True


_REGISTER_BLOCKS = """
import asyncio
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration

async def register():
    async with await provide_database_interface().session() as session:
        await run_block_auto_registration(session=session)
        await session.commit()

asyncio.run(register())
"""
"""What a Prefect server does with its database when it starts (`PREFECT_API_BLOCKS_REGISTER_ON_START`)."""


@contextlib.contextmanager
def migrated_database(*, blocks: bool = False) -> Iterator[Path]:
    """A new database migrated by the installed Prefect (and holding the block types its server registers,
    if `blocks`), in a temporary folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rowrelay-prefect-seed-") as home:
        env = {**os.environ, **detached.SAFE_PATH, "PREFECT_HOME": home}
        for name in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
            env.pop(name, None)
        command = detached.python("-m", "prefect", "server", "database", "upgrade", "-y")
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
        if blocks:
            register = detached.python("-c", _REGISTER_BLOCKS)
            subprocess.run(register, env=env, check=True, capture_output=True, timeout=600)
        yield Path(home) / DATABASE


def migrated_dump() -> str:
    """The shipped file's text: the installed Prefect's version, then its migrated database's dump with
    its block types. (Two migrations can list a rebuilt table's constraints in different orders: same
    schema, other text.)"""
    with migrated_database(blocks=True) as path, contextlib.closing(sqlite3.connect(path)) as database:
        dump = "\n".join(database.iterdump())
    return f"{_HEADER}{version('prefect')}\n{dump}\n"


if __name__ == "__main__":
    SCHEMA.write_text(migrated_dump())
    print(f"wrote {SCHEMA}")
