"""The database URL: the default file and the async driver for a plain URL.

Read by the bot's settings (bot/settings.py) and by Alembic's environment
(db/migrations/env.py), which runs without the bot when a developer calls `alembic`.
"""

from __future__ import annotations

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/win4ua.db"


def normalise_database_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async driver for them."""
    url = url.strip()
    for plain, asynchronous in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return asynchronous + url[len(plain) :]
    return url
