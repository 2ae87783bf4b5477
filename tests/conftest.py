"""Shared fixtures: a real, migrated database (SQLite and/or PostgreSQL) with reference data.

The database is prepared once per backend and session (migrations + reference data), then each
test gets its own copy (SQLite: a copied file; PostgreSQL: the same database with every
non-reference table emptied).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.engine import create_engine, create_sessionmaker
from tests import databases

REFERENCE_TABLES = (
    "gmina",
    "powiat",
    "hromada",
    "settlement",
    "reference_dataset",
    "alembic_version",
)


async def _prepare(url: str) -> None:
    from db import migrate
    from db.reference import load_reference

    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        await load_reference(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session", params=databases.selected_backends())
def prepared_database(
    request: pytest.FixtureRequest, tmp_path_factory
) -> Iterator[tuple[str, str]]:
    """(backend, url) of a migrated database holding the reference data."""
    backend = request.param
    if backend == "sqlite":
        template = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite+aiosqlite:///{template}"
        asyncio.run(_prepare(url))
        yield backend, url
        return
    reason = databases.postgres_unavailable_reason()
    if reason is not None:
        if databases.postgres_required():
            pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but unreachable: {reason}")
        pytest.skip(f"PostgreSQL not reachable at {databases.postgres_admin_url()}: {reason}")
    url = asyncio.run(databases.create_postgres_database())
    asyncio.run(_prepare(url))
    yield backend, url
    asyncio.run(databases.drop_postgres_database(url))


@pytest.fixture
def backend(prepared_database: tuple[str, str]) -> str:
    return prepared_database[0]


@pytest.fixture
async def database_url(prepared_database: tuple[str, str], tmp_path: Path) -> str:
    backend, url = prepared_database
    if backend == "sqlite":
        template = Path(url.split(":///", 1)[1])
        copy = tmp_path / "test.db"
        shutil.copyfile(template, copy)
        return f"sqlite+aiosqlite:///{copy}"
    engine = create_engine(url)
    try:
        await databases.truncate_all(engine, keep=REFERENCE_TABLES)
    finally:
        await engine.dispose()
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with create_sessionmaker(engine)() as session:
        yield session
