"""Stairway: every revision upgrades, downgrades and upgrades again, on each database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from db import migrate
from db.base import Base
from db.engine import create_engine
from tests import databases


@pytest.fixture
async def empty_database_url(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'stairway.db'}"
        return
    url = await databases.create_postgres_database("win4ua_stairway")
    yield url
    await databases.drop_postgres_database(url)


async def _tables(engine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def test_stairway(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        previous = "base"
        for revision in migrate.revisions():
            await migrate.upgrade(engine, revision)
            assert await migrate.current(engine) == revision
            await migrate.downgrade(engine, previous)
            await migrate.upgrade(engine, revision)
            previous = revision
        assert await _tables(engine) >= set(Base.metadata.tables)
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(empty_database_url: str) -> None:
    """Nothing in the models is missing from the migrations (autogenerate finds no change)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(empty_database_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
        assert diff == []
    finally:
        await engine.dispose()


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert migrate.head_revision() == migrate.revisions()[-1]


def test_an_up_to_date_database_starts_without_alembic(database_url: str) -> None:
    """A start on a migrated database must not load Alembic (about 10 MB of memory)."""
    script = (
        "import asyncio, sys\n"
        "from db import migrate\n"
        "from db.engine import create_engine\n"
        "async def main():\n"
        f"    engine = create_engine({database_url!r})\n"
        "    await migrate.upgrade(engine)\n"
        "    await engine.dispose()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert done.stdout.strip() == "[]"
