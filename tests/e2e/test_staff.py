"""Staff in Telegram over the fake Bot API: roles, menus, /stats, /export, and that nobody else
can use or forge any of it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import openpyxl
from sqlalchemy import select

from bot.app import App
from bot.services import people
from db.models import Application, AuditLog, Broadcast, Person
from tests.e2e.conftest import STAFF_ID
from tests.fakes.user import FakeUser

UNKNOWN = "I do not know this command"
STALE = "This button is no longer active."


async def ready(
    app: App,
    user: FakeUser,
    language: str = "en",
    role: str | None = None,
    status: str | None = None,
    audience: str = "municipality",
) -> Person:
    """Someone who chose a language and read the notice (and, with `status`, applied)."""
    async with app.sessionmaker() as session, session.begin():
        person = await people.on_contact(session, user.user_id)
        people.set_language(person, language)
        people.record_consent(person, people.PRIVACY_NOTICE_VERSION)
        if role:
            person.role = role
        if status:
            session.add(
                Application(
                    person_id=person.id,
                    programme_id=app.programme.id,
                    audience=audience,
                    status=status,
                    answers={},
                )
            )
    user.tg.register_chat(user.user_id)
    return person


def staff_user(tg, language: str = "en") -> FakeUser:
    return FakeUser(tg, STAFF_ID, language_code=language)


async def audit(app: App, action: str) -> list[AuditLog]:
    async with app.sessionmaker() as session:
        rows = await session.scalars(select(AuditLog).where(AuditLog.action == action))
        return list(rows.all())


async def test_non_staff_can_neither_use_nor_forge_staff_actions(bot, tg, user_factory) -> None:
    user = user_factory("en")
    await ready(bot, user)
    for command in ("/stats", "/export", "/broadcast", "/broadcasts", "/staff add 1"):
        await user.send(command)
        assert UNKNOWN in user.last_message().text, command
    assert not user.documents()
    for data in ("bs:1:everyone:", "bw:1:now:5", "bw:1:drop:", "bx:1"):
        await user.press_data(data)
    assert [a.text for a in user.answers()] == [STALE] * 4
    # One row for the person's refusals of the hour, with their count (issue 21, item 6).
    [denied] = await audit(bot, "staff.denied")
    assert not denied.allowed and denied.count == 9
    assert set(denied.detail["samples"]) >= {"/stats", "bw:1:now:5"}
    assert denied.detail["data"] == "/stats" and denied.detail["last"] == "bx:1"
    async with bot.sessionmaker() as session:
        assert await session.scalar(select(Broadcast)) is None
    # Nobody but staff is shown staff commands.
    assert tg.commands({"type": "chat", "chat_id": user.user_id}) == []


async def test_a_role_taken_away_stops_working_at_the_next_press(bot, tg) -> None:
    staff = staff_user(tg)
    await ready(bot, staff)
    await staff.send("/broadcast")
    assert "Who should get it?" in staff.last_message().text
    async with bot.sessionmaker() as session, session.begin():
        await people.set_role(session, STAFF_ID, "user")
    await staff.press("Everyone")
    assert staff.answers()[-1].text == STALE
    detail = (await audit(bot, "staff.denied"))[-1].detail
    assert detail.get("last", detail["data"]).startswith("bs:")
    await staff.send("/stats")
    assert UNKNOWN in staff.last_message().text


async def test_admins_manage_staff_and_their_menus(bot, tg, user_factory) -> None:
    admin = staff_user(tg)
    await ready(bot, admin, role="admin")
    newcomer = user_factory("pl")
    await ready(bot, newcomer, language="pl")
    scope = {"type": "chat", "chat_id": newcomer.user_id}
    await admin.send(f"/staff add {newcomer.user_id}")
    assert f"{newcomer.user_id} is now staff" in admin.last_message().text
    commands = {c["command"] for c in tg.commands(scope)}
    assert {"stats", "export", "broadcast"} <= commands and "staff" not in commands
    assert any("eksport" in c["description"].lower() for c in tg.commands(scope, "pl"))
    await newcomer.send("/staff add 42")  # staff, not an admin
    assert "tylko administratorzy" in newcomer.last_message().text
    await newcomer.send("/stats")
    assert "Nie znam" not in newcomer.last_message().text
    await admin.send(f"/staff remove {newcomer.user_id}")
    assert tg.commands(scope) == [] and tg.commands(scope, "pl") == []
    await newcomer.send("/stats")
    assert "Nie znam tego polecenia" in newcomer.last_message().text
    await admin.send(f"/staff remove {admin.user_id}")
    assert "own admin rights" in admin.last_message().text
    await admin.send("/staff add abc")
    assert "numeric Telegram id" in admin.last_message().text
    changes = [(r.detail["from"], r.detail["to"]) for r in await audit(bot, "staff.role")]
    assert changes == [("user", "staff"), ("staff", "user")]


async def test_stats_in_the_staff_language_with_plural_forms(bot, tg, user_factory) -> None:
    staff = staff_user(tg, "pl")
    await ready(bot, staff, language="pl")
    for status in ("eligible", "eligible", "ineligible", "draft", "draft"):
        await ready(bot, user_factory("pl"), language="pl", status=status)
    await ready(bot, user_factory("uk"), language="uk", status="eligible", audience="intern")
    async with bot.sessionmaker() as session, session.begin():
        blocked = Person(telegram_id=999, language="uk", blocked_at=datetime.now(UTC))
        session.add(blocked)
    await staff.send("/stats")
    text = staff.last_message().text
    assert "5 zgłoszeń" in text  # many
    assert "1 zgłoszenie" in text  # one
    assert "spełnia kryteria: 2" in text
    assert "1 osoba" in text  # unreachable: one person
    assert len(await audit(bot, "staff.stats")) == 1


async def test_export_goes_to_the_staff_member_only(bot, tg, user_factory) -> None:
    staff = staff_user(tg)
    await ready(bot, staff)
    applicant = user_factory("pl")
    await ready(bot, applicant, language="pl", status="eligible")
    await staff.send("/export")
    [document] = staff.documents()
    assert document.file.filename.endswith(".xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(document.file.content))
    assert workbook.sheetnames[-2:] == ["Events", "Bookings"]
    await staff.send("/export csv")
    assert staff.documents()[-1].file.filename.endswith(".zip")
    assert not applicant.documents()
    exports = await audit(bot, "staff.export")
    assert [(e.target, e.count, e.actor_id is not None) for e in exports] == [
        ("xlsx", 1, True),
        ("csv", 1, True),
    ]


async def test_blocking_and_unblocking_the_bot_is_noticed(bot, tg, user_factory) -> None:
    user = user_factory("pl")
    await ready(bot, user, language="pl")

    async def membership(old: str, new: str) -> None:
        member = {"user": {"id": tg.bot_id or 123456789, "is_bot": True, "first_name": "Bot"}}
        await tg.deliver(
            {
                "my_chat_member": {
                    "chat": user.chat,
                    "from": user.user,
                    "date": 0,
                    "old_chat_member": {**member, "status": old, "until_date": 0},
                    "new_chat_member": {**member, "status": new, "until_date": 0},
                }
            }
        )

    async def blocked_at() -> datetime | None:
        async with bot.sessionmaker() as session:
            person = await session.scalar(select(Person).where(Person.telegram_id == user.user_id))
            return person.blocked_at

    await membership("member", "kicked")
    assert await blocked_at() is not None
    await membership("kicked", "member")
    assert await blocked_at() is None
