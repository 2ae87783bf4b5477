import logging

from bot.logging_setup import REDACTED, RedactingFilter

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def _format(record: logging.LogRecord, secrets: list[str]) -> str:
    RedactingFilter(secrets).filter(record)
    return logging.Formatter("%(message)s").format(record)


def test_token_in_message_args_is_redacted() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "GET %s failed", (
        f"https://api.telegram.org/bot{TOKEN}/getUpdates",), None)
    text = _format(record, [TOKEN])
    assert TOKEN not in text
    assert REDACTED in text


def test_token_in_traceback_is_redacted() -> None:
    try:
        raise RuntimeError(f"cannot reach /bot{TOKEN}/sendMessage")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    text = _format(record, [])
    assert "RuntimeError" in text
    assert TOKEN not in text
    assert "secret-part" not in text


def test_unknown_token_shape_is_redacted_without_being_told() -> None:
    other = "987654321:ZZZdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, f"token {other}", (), None)
    assert other not in _format(record, [])
