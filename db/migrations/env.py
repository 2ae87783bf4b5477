"""Alembic environment: async engines, and a connection handed in by `db.migrate`.

The bot migrates through db/migrate.py, which hands over its connection. A developer's `alembic`
command (alembic.ini) gets the URL from `sqlalchemy.url` if set, else from DATABASE_URL in the
environment or `.env`, the variable the bot reads, else the bot's default SQLite file.
"""

from __future__ import annotations

import asyncio

from alembic import context
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Connection

from db import models  # noqa: F401 - registers every table on Base.metadata
from db.base import Base
from db.engine import create_engine
from db.url import DEFAULT_DATABASE_URL, normalise_database_url

config = context.config
target_metadata = Base.metadata


class _DatabaseUrl(BaseSettings):
    """DATABASE_URL as bot/settings.py reads it (environment, then `.env`), and nothing else."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = DEFAULT_DATABASE_URL


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or _DatabaseUrl().database_url
    return normalise_database_url(url)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    asyncio.run(_run_async(_database_url()))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
