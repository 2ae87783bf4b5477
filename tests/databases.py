"""Real databases for tests: a fresh SQLite file, or a throwaway PostgreSQL database.

`TEST_DATABASES` (comma-separated, default "sqlite,postgresql") picks the backends.
PostgreSQL is found at `TEST_POSTGRES_URL` (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres);
when it cannot be reached its tests are skipped with the reason, unless `REQUIRE_POSTGRES=1`
(set by CI), where an unreachable server fails the run instead of passing it quietly.
Redis (the shared send budget's tests) is found at `TEST_REDIS_URL` (default
redis://127.0.0.1:6379/0); without it those tests are skipped with the reason, unless
`REQUIRE_REDIS=1` (set by CI), which fails them instead.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def selected_backends() -> list[str]:
    raw = os.environ.get("TEST_DATABASES", "sqlite,postgresql")
    return [b.strip() for b in raw.split(",") if b.strip()]


def postgres_admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_required() -> bool:
    return os.environ.get("REQUIRE_POSTGRES", "") not in ("", "0", "false")


def redis_required() -> bool:
    return os.environ.get("REQUIRE_REDIS", "") not in ("", "0", "false")


async def _postgres_reachable(url: str) -> str | None:
    import asyncpg

    u = make_url(url)
    try:
        conn = await asyncio.wait_for(
            asyncpg.connect(
                host=u.host,
                port=u.port or 5432,
                user=u.username,
                password=u.password,
                database=u.database,
            ),
            timeout=5,
        )
    except Exception as exc:  # any failure means "not here"; the reason is shown in the skip
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def postgres_unavailable_reason() -> str | None:
    """None when PostgreSQL answers, else why not."""
    return asyncio.run(_postgres_reachable(postgres_admin_url()))


async def create_postgres_database(prefix: str = "win4ua_test") -> str:
    import asyncpg

    admin = make_url(postgres_admin_url())
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(
        host=admin.host,
        port=admin.port or 5432,
        user=admin.username,
        password=admin.password,
        database=admin.database,
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin.set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    admin = make_url(postgres_admin_url())
    name = make_url(url).database
    conn = await asyncpg.connect(
        host=admin.host,
        port=admin.port or 5432,
        user=admin.username,
        password=admin.password,
        database=admin.database,
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def truncate_all(engine, keep: tuple[str, ...] = ()) -> None:
    """Empty every table but the reference data, between tests on one database."""
    from db.base import Base

    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in keep]
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)


async def redis_unavailable_reason() -> str | None:
    """None when Redis answers a PING at `TEST_REDIS_URL`, else why not (shown in the skip)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url(), socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None
