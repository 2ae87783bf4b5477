"""What people type and the bot token never reach the logs, even at LOG_LEVEL=DEBUG."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logging_setup import configure_logging
from tests.e2e.conftest import TOKEN, onboard
from tests.e2e.test_host_journey import begin_as_host

CANARIES = ("Kanarek Zielonooki", "kanarek@example.org", "600 999 111", "+48600999111")


@pytest.fixture
def production_logs() -> Iterator[io.StringIO]:
    """The production logging set-up at DEBUG, writing into a buffer; restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    buffer = io.StringIO()
    configure_logging("DEBUG", secrets=[TOKEN], stream=buffer)
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)


async def test_no_personal_data_or_token_in_logs(bot, user_factory, production_logs) -> None:
    user = user_factory()
    await begin_as_host(user, "pl")
    await user.send("Hel")
    await user.press("Hel")
    await user.send(CANARIES[0])
    await user.send("Wójt")
    await user.send(CANARIES[1])
    await user.send(CANARIES[2])
    await user.send("/mydata")
    await onboard(user_factory(), "English")
    logging.getLogger("bot").error("token check: %s", f"/bot{TOKEN}/sendMessage")
    text = production_logs.getvalue()
    assert "is handled" in text, "the bot logged nothing: this test would prove nothing"
    for secret in (*CANARIES, TOKEN, TOKEN.split(":")[1]):
        assert secret not in text
