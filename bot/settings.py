"""One settings object, read from the environment and `.env`.

Nothing here runs at import: `load_settings()` is called by the composition root.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from db.url import DEFAULT_DATABASE_URL, normalise_database_url

# Telegram tokens look like "123456789:AA...": a numeric bot id, a colon, 35 url-safe characters.
_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,60}$")
# Telegram accepts 1-256 characters A-Z a-z 0-9 _ - for X-Telegram-Bot-Api-Secret-Token;
# we ask for at least 16 so a short, guessable secret is refused before it protects nothing.
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,256}$")


# As pydantic's URL gives the host: lower case, an IPv6 address in brackets.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    bot_username: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_base: AnyHttpUrl | None = None
    staff_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    redis_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    programme_file: Path | None = None
    # Outbox sender: messages per second across all chats (Telegram allows about 30; paid
    # broadcasts up to 1000).
    send_rate: float = Field(default=25.0, gt=0, le=1000)
    # Per-person limit: THROTTLE_BURST updates at once, then THROTTLE_RATE a second (0: off).
    throttle_rate: float = Field(default=1.0, ge=0)
    throttle_burst: int = Field(default=15, ge=1)
    # Record each update id so a redelivered update is processed once.
    dedupe_updates: bool = True
    # Applications are anonymised this many days after the call closes (grant settlement).
    retention_days: int = Field(default=730, ge=1)
    # Where people write about their data; shown in the data-protection notice.
    privacy_contact: str = "solidarityfund.pl"
    # The staff dashboard (a Telegram Mini App): its public https address, which staff get as
    # their chat's menu button; in polling mode it listens on DASHBOARD_HOST:DASHBOARD_PORT
    # (in webhook mode on the webhook server). A signed-in page stays valid this long.
    dashboard_url: AnyHttpUrl | None = None
    dashboard_host: str = "0.0.0.0"
    dashboard_port: int | None = Field(default=None, ge=1, le=65535)
    dashboard_session_minutes: int = Field(default=60, ge=10, le=24 * 60)

    @field_validator("bot_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_RE.match(value.get_secret_value().strip()):
            raise ValueError(
                "does not look like a Telegram bot token (digits:letters from @BotFather)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        value = normalise_database_url(value)
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be an sqlite:/// or postgresql:// URL")
        return value

    @field_validator("staff_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",")]
            try:
                return [int(part) for part in parts if part]
            except ValueError:
                raise ValueError("must be numeric Telegram ids separated by commas") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "webhook_url", "telegram_api_base", "redis_url", "dashboard_url", "dashboard_port",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_path(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        # The page's links and its script's requests are under /dashboard/ of its host.
        if value is not None and (value.path or "/").rstrip("/") != "/dashboard":
            raise ValueError("must be the page's address ending in /dashboard/, e.g. "
                             "https://bot.example.org/dashboard/")
        # Telegram opens a Mini App only from https; plain http is for this machine alone
        # (the console's dashboard, a tunnel's local end).
        if value is not None and value.scheme != "https" and value.host not in LOCAL_HOSTS:
            raise ValueError("must start with https:// (Telegram opens Mini Apps only over "
                             "https); http:// is accepted for localhost, 127.0.0.1 and [::1] only")
        if value is not None and not (value.path or "").endswith("/"):
            return AnyHttpUrl(str(value) + "/")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url is None:
            return self
        if self.webhook_secret is None:
            raise ValueError("WEBHOOK_URL is set but WEBHOOK_SECRET is not: refusing webhook mode")
        if not _SECRET_RE.match(self.webhook_secret.get_secret_value()):
            raise ValueError("WEBHOOK_SECRET must be 16-256 characters of A-Z, a-z, 0-9, _ or -")
        return self

    @property
    def token(self) -> str | None:
        return self.bot_token.get_secret_value().strip() if self.bot_token else None

    @property
    def dashboard_address(self) -> str | None:
        """The dashboard's public address as Telegram gets it for the menu button."""
        return str(self.dashboard_url) if self.dashboard_url else None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class SettingsError(Exception):
    """A configuration problem, already phrased for a person reading a terminal."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]).upper() or "settings"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{field}: {message}" if error["loc"] else message)
        raise SettingsError("configuration error: " + "; ".join(problems)) from None
