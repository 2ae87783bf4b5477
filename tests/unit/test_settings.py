import pytest

from bot.settings import SettingsError, load_settings
from db.url import normalise_database_url

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("BOT_TOKEN", "DATABASE_URL", "WEBHOOK_URL", "WEBHOOK_SECRET", "STAFF_IDS",
                 "TELEGRAM_API_BASE", "REDIS_URL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no developer .env here


def test_defaults_need_nothing() -> None:
    settings = load_settings()
    assert settings.token is None
    assert settings.database_url == "sqlite+aiosqlite:///data/win4ua.db"
    assert settings.is_sqlite


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_database_urls_get_async_drivers(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nSTAFF_IDS=11, 22;33\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    settings = load_settings()
    assert settings.token == TOKEN
    assert settings.staff_ids == [11, 22, 33]
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1/test"
    assert TOKEN not in repr(settings)  # SecretStr keeps the token out of reprs and tracebacks


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"STAFF_IDS": "12,abc"}, "STAFF_IDS"),
        ({"WEBHOOK_URL": "https://bot.example.org/tg"}, "WEBHOOK_SECRET is not"),
        ({"WEBHOOK_URL": "https://bot.example.org/tg", "WEBHOOK_SECRET": "short"}, "16-256"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ],
)
def test_wrong_settings_give_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], fragment: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message
    assert message.startswith("configuration error:")


def test_webhook_with_good_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org/tg")
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret-s3cret-s3cret")
    settings = load_settings()
    assert str(settings.webhook_url) == "https://bot.example.org/tg"


def test_cli_reports_bad_setting_without_traceback(monkeypatch, capsys) -> None:
    from bot.cli import main

    monkeypatch.setenv("BOT_TOKEN", "oops")
    assert main(["staff", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error: BOT_TOKEN")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_dashboard_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DASHBOARD_URL", "DASHBOARD_PORT", "DASHBOARD_SESSION_MINUTES"):
        monkeypatch.setenv(name, "")
    monkeypatch.delenv("DASHBOARD_SESSION_MINUTES")
    settings = load_settings()
    assert settings.dashboard_address is None and settings.dashboard_port is None
    assert settings.dashboard_session_minutes == 60
    monkeypatch.setenv("DASHBOARD_URL", "https://bot.example.org/dashboard/")
    monkeypatch.setenv("DASHBOARD_PORT", "8099")
    settings = load_settings()
    assert settings.dashboard_address == "https://bot.example.org/dashboard/"
    assert settings.dashboard_port == 8099
    monkeypatch.setenv("DASHBOARD_URL", "https://bot.example.org/dashboard")
    assert load_settings().dashboard_address == "https://bot.example.org/dashboard/"
    monkeypatch.setenv("DASHBOARD_URL", "https://bot.example.org/")
    with pytest.raises(SettingsError, match="DASHBOARD_URL: must be the page's address"):
        load_settings()
    monkeypatch.setenv("DASHBOARD_URL", "http://bot.example.org/dashboard/")
    with pytest.raises(SettingsError, match="DASHBOARD_URL: must start with https://"):
        load_settings()
    for local in ("http://127.0.0.1:8081/dashboard/", "http://localhost:8081/dashboard/",
                  "http://[::1]:8081/dashboard/"):
        monkeypatch.setenv("DASHBOARD_URL", local)
        assert load_settings().dashboard_address == local
    monkeypatch.setenv("DASHBOARD_URL", "http://10.0.0.5:8081/dashboard/")
    with pytest.raises(SettingsError, match="must start with https://"):
        load_settings()
    monkeypatch.setenv("DASHBOARD_URL", "https://bot.example.org/dashboard/")
    monkeypatch.setenv("DASHBOARD_SESSION_MINUTES", "5")  # shorter than a dashboard link
    with pytest.raises(SettingsError, match="DASHBOARD_SESSION_MINUTES"):
        load_settings()
