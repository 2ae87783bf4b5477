"""The console chat, as a newcomer uses it: `printf '/start\n1\n1\n' | python -m bot console`."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

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


def test_the_console_serves_the_dashboard_to_a_link_signed_without_a_bot_token(
    database_url: str,
) -> None:
    """Trying the dashboard without Telegram: the console chat serves it on this machine, and
    `dashboard-link` (no BOT_TOKEN) signs a link it accepts; anyone else's link is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "WEBHOOK_URL")}
    env |= {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "DASHBOARD_PORT": str(port),
            "STAFF_IDS": "100001"}
    console = subprocess.Popen(
        [sys.executable, "-m", "bot", "console"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )
    try:
        assert console.stdout is not None
        # The chat prints the address once the server listens (a minute at most).
        line, deadline = "", time.monotonic() + 60
        while "Staff dashboard at" not in line and time.monotonic() < deadline:
            if select.select([console.stdout], [], [], 1)[0]:
                line = console.stdout.readline()
        assert f"http://127.0.0.1:{port}/dashboard/" in line, "the console serves no dashboard"

        def status(user_id: str) -> int:
            link = subprocess.run(
                [sys.executable, "-m", "bot", "dashboard-link", "--user-id", user_id],
                capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=True,
            ).stdout.strip()
            assert link.startswith(f"http://127.0.0.1:{port}/dashboard/#tgWebAppData=")
            init_data = unquote(urlsplit(link).fragment.split("=", 1)[1])
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/dashboard/view/",
                headers={"Authorization": f"tma {init_data}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert 'id="applications"' in response.read().decode()
                    return int(response.status)
            except urllib.error.HTTPError as refused:
                return refused.code

        assert status("100001") == 200
        assert status("5") == 403  # signed, but not staff
    finally:
        _out, err = console.communicate("/quit\n", timeout=60)
    assert console.returncode == 0, err
    assert "Traceback" not in err
