"""Stairway: every revision upgrades, downgrades and upgrades again, on each database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

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


def test_the_alembic_command_migrates_the_database_url_it_is_given(tmp_path: Path) -> None:
    """A developer's `alembic upgrade head` (alembic.ini) takes DATABASE_URL, as the bot does,
    without importing the bot (db/ does not import bot/)."""
    database = tmp_path / "alembic.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}  # plain: the driver is added
    root = Path(__file__).resolve().parents[2]
    for command in (["upgrade", "head"], ["current"]):
        done = subprocess.run(
            [sys.executable, "-m", "alembic", *command],
            capture_output=True,
            text=True,
            check=False,
            cwd=root,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    assert migrate.head_revision() in done.stdout
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert stored == (migrate.head_revision(),)


async def test_time_zones_follow_the_audience_after_0006(empty_database_url: str) -> None:
    """Issue 17, item 8: zones set from the language before 0006 are set from the audience."""
    engine = create_engine(empty_database_url)
    now = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    people = [(1, "pl", "Europe/Warsaw", "intern"), (2, "uk", "Europe/Kyiv", "municipality"),
              (3, "uk", "Europe/Kyiv", None)]
    try:
        await migrate.upgrade(engine, "0005")
        async with engine.begin() as connection:
            for person_id, language, zone, audience in people:
                await connection.execute(
                    text("INSERT INTO person (id, telegram_id, language, time_zone, role, "
                         "created_at, updated_at) VALUES (:id, :tid, :lang, :zone, 'user', "
                         ":now, :now)"),
                    {"id": person_id, "tid": person_id, "lang": language, "zone": zone,
                     "now": now},
                )
                if audience:
                    await connection.execute(
                        text("INSERT INTO application (person_id, programme_id, audience, "
                             "status, editing, answers, needs_review, created_at, updated_at) "
                             "VALUES (:id, 'p', :audience, 'draft', false, '{}', false, :now, "
                             ":now)"),
                        {"id": person_id, "audience": audience, "now": now},
                    )
        await migrate.upgrade(engine, "0006")
        async with engine.connect() as connection:
            zones = dict(
                (await connection.execute(text("SELECT id, time_zone FROM person"))).all()
            )
        assert zones == {1: "Europe/Kyiv", 2: "Europe/Warsaw", 3: None}
    finally:
        await engine.dispose()
