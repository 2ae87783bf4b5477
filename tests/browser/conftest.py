"""Browser tests: Debian's headless chromium against the bot's real dashboard.

Skipped, with the reason, where chromium, chromedriver or selenium is missing (`make browser`
installs the first two); with REQUIRE_BROWSER=1 (set by CI) a missing browser fails the run
instead of passing it quietly, as REQUIRE_POSTGRES does for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.browser import chromium
from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture(autouse=True)
def _browser_here(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("browser") is None:
        return
    reason = chromium.missing()
    if reason is None:
        return
    if chromium.browser_required():
        pytest.fail(f"a browser is required (REQUIRE_BROWSER=1) but {reason}", pytrace=False)
    pytest.skip(f"no browser here: {reason}")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server
