"""The console chat, as a newcomer uses it: `printf '/start\n1\n1\n' | python -m bot console`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_console(
    database_url: str, script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "WEBHOOK_URL")}
    env |= {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"} | extra
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", *args],
        input=script, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("choice", "notice", "home"),
    [("1", "Jak przetwarzamy Państwa dane", "Kogo Państwo reprezentują"),
     ("2", "Як ми обробляємо Ваші персональні дані", "Кого Ви представляєте"),
     ("3", "How we use your personal data", "Who are you applying as")],
)
def test_start_language_notice(database_url: str, choice: str, notice: str, home: str) -> None:
    result = run_console(database_url, f"/start\n{choice}\n1\n/quit\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Choose your language" in out and "[1] 🇵🇱 Polski" in out
    assert notice in out and home in out
    assert "<b>" not in out  # HTML is rendered, not shown raw
    assert "Traceback" not in result.stderr


def test_console_walks_into_the_questionnaire(database_url: str) -> None:
    script = "\n".join(["/start", "1", "1", "1", "1", "wadowice", "1", "Anna Kowalska", "/quit"])
    result = run_console(database_url, script + "\n", "--user-id", "777")
    assert result.returncode == 0, result.stderr
    assert "36 475 mieszkańców (GUS, 2023)" in result.stdout.replace("\xa0", " ")
    assert "Pytanie 4 z" in result.stdout
