"""Staff wizards through the console chat, which sends one line per message (issue 17, item 7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.test_console import run_console

STAFF = 730_101


def as_staff(database_url: str, *lines: str) -> str:
    script = "\n".join(["/start", "1", "1", *lines, "/quit"]) + "\n"
    result = run_console(
        database_url, script, "--user-id", str(STAFF), env={"STAFF_IDS": str(STAFF)}
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_newevent_takes_the_titles_one_message_per_language(database_url: str) -> None:
    start = (datetime.now(UTC) + timedelta(days=30)).strftime("%d.%m.%Y 10:00")
    chat = as_staff(
        database_url,
        "/newevent", "1", "1", start, "60", "20", "https://meet.example.org/x",
        "Spotkanie informacyjne", "Інформаційна зустріч", "Information meeting",
        "1",
    )
    assert "Tytuł po polsku?" in chat and "Tytuł po ukraińsku?" in chat
    assert "Utworzono wydarzenie #1" in chat
    created = chat[chat.index("Utworzono wydarzenie #1") :]
    assert "pl: Spotkanie informacyjne" in created
    assert "uk: Інформаційна зустріч" in created and "en: Information meeting" in created
