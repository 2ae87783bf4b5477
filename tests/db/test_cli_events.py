"""`python -m bot event …` as an operator types it (issue 17, item 12): the README's example
works on any day, and the count of people told takes its plural form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import build_app
from bot.cli import build_parser
from bot.programme import PROGRAMMES_DIR
from bot.services import booking, people
from bot.settings import Settings
from db.models import Application, Event

ROOT = Path(__file__).resolve().parents[2]


async def cli(settings: Settings, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return await args.func(settings, args)


async def test_relative_start_and_people_told_in_plural(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        programme_file=Path(PROGRAMMES_DIR / "demo.toml"),
    )
    titles = ["--title-pl", "Spotkanie", "--title-uk", "Зустріч", "--title-en", "Meeting"]
    assert await cli(settings, "event", "create", "--start", "+7d 10:00", *titles) == 0
    assert await cli(settings, "event", "create", "--start", "tomorrow 9:30", *titles) == 0
    assert capsys.readouterr().out.splitlines() == ["event 1 created", "event 2 created"]

    warsaw = ZoneInfo("Europe/Warsaw")
    today = datetime.now(UTC).astimezone(warsaw).date()
    async with build_app(settings, prepare=False) as app:
        async with app.sessionmaker() as session:
            starts = (await session.scalars(select(Event.starts_at).order_by(Event.id))).all()
        assert [s.astimezone(warsaw).replace(tzinfo=None) for s in starts] == [
            datetime.combine(today + timedelta(days=7), datetime.min.time()).replace(hour=10),
            datetime.combine(today + timedelta(days=1), datetime.min.time()).replace(
                hour=9, minute=30
            ),
        ]
        async with app.sessionmaker() as session, session.begin():
            person = await people.on_contact(session, 740_001)
            people.set_language(person, "pl")
            session.add(Application(person_id=person.id, programme_id=app.programme.id,
                                    audience="municipality", status="eligible", answers={}))
            await session.flush()
            await booking.choose(session, app.programme, person, 1, datetime.now(UTC))

    assert await cli(settings, "event", "move", "1", "--start", "+8d 10:00") == 0
    assert await cli(settings, "event", "cancel", "1") == 0
    assert await cli(settings, "event", "cancel", "2") == 0
    assert capsys.readouterr().out.splitlines() == [
        "event 1 moved; 1 person will be told",
        "event 1 cancelled; 1 person will be told",
        "event 2 cancelled; 0 people will be told",
    ]
    assert await cli(settings, "event", "create", "--start", "+7x 10:00", *titles) == 1
    assert "+7d 10:00" in capsys.readouterr().err  # the refusal shows the forms that work


def test_readme_examples_use_no_date_in_the_past() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert '--start "+7d 10:00"' in readme
    assert '--start "2026-' not in readme
