"""Logging that cannot leak the bot token or what people typed.

The token is part of every Bot API URL, so any exception that prints a URL would print it;
a filter on the handler scrubs tokens from every record, including tracebacks. Handlers and
services log ids and outcomes, never message text, names, e-mails or phone numbers.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

TOKEN_PATTERN = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{30,60}")
REDACTED = "<token>"


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return TOKEN_PATTERN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.scrub(formatted)
            record.exc_info = None
        return True


# Loggers that would print SQL parameters (answers, names, e-mails) at DEBUG or INFO.
QUIET_LOGGERS = ("sqlalchemy.engine", "aiosqlite", "asyncpg", "apscheduler", "alembic")


def configure_logging(
    level: str = "INFO", secrets: list[str] | None = None, stream: TextIO | None = None
) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiogram logs each update at INFO with its id only; keep that, but keep SQL quiet even
    # at LOG_LEVEL=DEBUG, since its parameters are what people typed.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
