"""Who is asking: Telegram's signed Mini App `initData`, checked on every request.

Telegram signs the data it hands a Mini App with HMAC-SHA256 under the key
HMAC-SHA256("WebAppData", bot token); aiogram's `safe_parse_webapp_init_data` checks it. On top
of the signature: its age (`auth_date`, at most `DASHBOARD_SESSION_MINUTES` old, and not from
the future beyond a little clock skew), then the person's role, read from the database on
every request by the caller. Nothing here says *why* a request was refused: the answer is a
bare 401 or 403.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from aiogram.utils.web_app import safe_parse_webapp_init_data

# The header the page sends: `Authorization: tma <initData>` (the scheme Telegram's docs use).
SCHEME = "tma"
# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=5)
# initData is a few hundred bytes; anything much longer is not Telegram's.
MAX_INIT_DATA = 4096


class NotSignedIn(Exception):
    """No initData, a forged one, or one too old: 401."""


@dataclass(frozen=True)
class Visitor:
    telegram_id: int
    language_code: str | None


def sign_init_data(
    token: str,
    user_id: int,
    *,
    first_name: str = "Staff",
    language_code: str | None = None,
    now: datetime,
) -> str:
    """initData signed exactly as Telegram signs it, for tests and `dashboard-link`."""
    user: dict[str, object] = {"id": user_id, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    fields = {
        "auth_date": str(int(now.timestamp())),
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
    }
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def init_data_from_header(header: str | None) -> str:
    if not header:
        raise NotSignedIn
    scheme, _space, value = header.partition(" ")
    if scheme.lower() != SCHEME or not value.strip() or len(value) > MAX_INIT_DATA:
        raise NotSignedIn
    return value.strip()


def verify(token: str, init_data: str, now: datetime, max_age: timedelta) -> Visitor:
    """The Telegram user behind a signed, fresh initData; NotSignedIn otherwise."""
    try:
        data = safe_parse_webapp_init_data(token, init_data)
    except (ValueError, TypeError):
        # ValueError: no or a wrong hash, not a query string, not Telegram's shapes (pydantic's
        # ValidationError is one); TypeError: a hash with non-ASCII characters, which
        # hmac.compare_digest refuses to compare.
        raise NotSignedIn from None
    if data.user is None:
        raise NotSignedIn
    signed_at = data.auth_date
    if signed_at > now + CLOCK_SKEW or now - signed_at > max_age:
        raise NotSignedIn
    return Visitor(telegram_id=data.user.id, language_code=data.user.language_code)
