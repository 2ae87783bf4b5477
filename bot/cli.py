"""`python -m bot`: the composition root. Settings, engine, bot and dispatcher are built here."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from gettext import ngettext
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from bot import cli_interns
from bot.logging_setup import configure_logging
from bot.settings import Settings, SettingsError, load_settings
from db.base import utcnow

log = logging.getLogger("bot")

Command = Callable[[Settings, argparse.Namespace], Awaitable[int]]


async def cmd_auto(settings: Settings, args: argparse.Namespace) -> int:
    if settings.token:
        return await cmd_run(settings, args)
    print("BOT_TOKEN is not set: starting the console chat instead of Telegram.", file=sys.stderr)
    args.lang, args.user_id = None, 100001
    return await cmd_console(settings, args)


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.instance_lock import AnotherInstanceRunning, instance_lock
    from bot.runners import run_polling, run_webhook

    if not settings.token:
        print("BOT_TOKEN is not set; try `python -m bot console`.", file=sys.stderr)
        return 2
    try:
        with instance_lock(settings.database_url):  # SQLite: one sender per file
            async with build_app(settings) as app:
                if settings.webhook_url:
                    await run_webhook(app)
                else:
                    await run_polling(app)
    except AnotherInstanceRunning as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


async def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    from bot.console import run_console

    await run_console(settings, language=args.lang, user_id=args.user_id)
    return 0


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from db import migrate
    from db.engine import create_engine

    engine = create_engine(settings.database_url)
    try:
        if args.revision.startswith("-") or args.downgrade:
            await migrate.downgrade(engine, args.revision)
        else:
            await migrate.upgrade(engine, args.revision)
        print(f"database at revision {await migrate.current(engine)}")
    finally:
        await engine.dispose()
    return 0


async def cmd_load_reference(settings: Settings, args: argparse.Namespace) -> int:
    from db import migrate
    from db.engine import create_engine
    from db.reference import load_reference

    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        loaded = await load_reference(engine)
    finally:
        await engine.dispose()
    for name, rows in loaded.items():
        print(f"{name}: {rows} rows loaded" if rows else f"{name}: up to date")
    return 0


async def cmd_staff(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli_interns import open_session
    from bot.services import people

    async with open_session(settings) as session:
        if args.action == "list":
            members = await people.staff_members(session)
            for member in members:
                print(f"{member.telegram_id}\t{member.role}")
            if not members:
                print("no staff yet: python -m bot staff add TELEGRAM_ID")
            return 0
        role = {"add": "admin" if args.admin else "staff", "remove": "user"}[args.action]
        await people.set_role(session, args.telegram_id, role)
    print(f"{args.telegram_id} is now {role}")
    return 0


async def cmd_programme_check(settings: Settings, args: argparse.Namespace) -> int:
    from bot.programme import ProgrammeError, load_programme

    try:
        programme = load_programme(args.file)
    except ProgrammeError as exc:
        print(exc, file=sys.stderr)
        return 1
    state = "open" if programme.is_open(utcnow()) else "closed"
    print(f"{args.file}: programme {programme.id!r}{' (demo)' if programme.demo else ''} is valid")
    print(f"  applications: {programme.applications_open:%Y-%m-%d %H:%M} – "
          f"{programme.applications_close:%Y-%m-%d %H:%M} UTC ({state} now)")
    for name, audience in programme.audiences.items():
        print(f"  {name}: {len(audience.questions)} questions, "
              f"{len(audience.eligibility)} eligibility rules")
    from bot.services.pickers import unknown_codes
    from db.reference import REFERENCE_DIR

    unknown = unknown_codes(programme.occupied.katottg, REFERENCE_DIR)
    if unknown:
        print(f"{args.file}: [occupied] codes matching no community: {', '.join(unknown)}",
              file=sys.stderr)
        return 1
    print(f"  occupied: {len(programme.occupied.katottg)} KATOTTG codes or prefixes")
    return 0


EVENT_ERRORS = {
    "bad_time": "times look like 2027-04-08 10:00, 8.04.2027 10:00, +7d 10:00 or "
    "tomorrow 10:00 (Warsaw time)",
    "no_such_time": "that time does not exist in Warsaw (the clocks go forward then)",
    "past": "the start must be in the future",
    "unknown": "no such event in this programme",
    "cancelled": "the event is cancelled",
    "capacity": "capacity must be at least 1 (or 'none' for no limit)",
    "capacity_taken": "more seats are taken than that",
    "kind_taken": "someone booked on it already holds a booking of that kind",
    "title": "a title is needed in pl, uk and en (at most 200 characters each)",
    "duration": "duration is in minutes, at least 5",
    "link": "the join link must start with https://",
    "not_started": "attendance can be marked once the event has started",
    "stale": "no such active booking",
}


async def cmd_event(settings: Settings, args: argparse.Namespace) -> int:
    """Events in the configured programme; times in and out in the programme's zone (Warsaw)."""
    from zoneinfo import ZoneInfo

    from bot.cli_interns import open_session
    from bot.programme import default_programme_path, load_programme
    from bot.services import booking, events

    programme = load_programme(settings.programme_file or default_programme_path())
    zone, now = programme.time_zone, utcnow()
    try:
        async with open_session(settings) as session:
            if args.action == "list":
                past_days = None if args.all else 7
                found = await events.listing(session, programme, now, past_days=past_days)
                numbers = await booking.counts(session, [e.id for e in found])
                for e in found:
                    n = numbers.get(e.id, {})
                    seats = f"{e.seats_taken}/{e.capacity if e.capacity is not None else '∞'}"
                    print(f"{e.id}\t{e.starts_at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}\t"
                          f"{e.kind}\t{e.audience}\t{seats} seats, "
                          f"{n.get('waitlisted', 0)} waiting\t{e.status}\t{e.title['pl']}")
                if not found:
                    print("no events yet: python -m bot event create --help")
                return 0
            if args.action == "create":
                draft = events.EventDraft(
                    kind=args.kind, audience=args.audience,
                    title={"pl": args.title_pl, "uk": args.title_uk, "en": args.title_en},
                    starts_at=_start(args.start, zone, now),
                    duration_minutes=args.duration, capacity=_capacity(args.capacity),
                    join_link=args.link, place=args.place,
                )
                event = await events.create(session, programme, draft, now)
                print(f"event {event.id} created")
                return 0
            event = await events.get(session, programme, args.event_id)
            if args.action == "edit":
                changes = _event_changes(args)
                await events.edit(session, programme, event, changes, now)
                print(f"event {event.id} changed: {', '.join(sorted(changes)) or 'nothing'}")
            elif args.action == "move":
                starts_at = _start(args.start, zone, now)
                told = await events.move(session, programme, event, starts_at, now)
                print(_told(event.id, True, told))
            else:
                told = await events.cancel(session, programme, event, now)
                print(_told(event.id, False, told))
    except (events.EventError, booking.BookingError) as exc:
        print(f"event: {EVENT_ERRORS.get(exc.code, exc.code)}", file=sys.stderr)
        return 1
    return 0


_RELATIVE_START = re.compile(
    r"^(?:\+(?P<days>\d{1,3})d|(?P<tomorrow>tomorrow))\s+(?P<time>\d{1,2}:\d{2})$"
)


def _start(text: str, zone: str, now: datetime) -> datetime:
    """An absolute time as the bot reads it, or one relative to today in `zone`: "+7d 10:00"
    or "tomorrow 10:00" (examples that work on any day)."""
    from zoneinfo import ZoneInfo

    from bot.services import events

    match = _RELATIVE_START.match(text.strip())
    if match:
        days = int(match["days"]) if match["days"] else 1
        day = now.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)
        text = f"{day:%Y-%m-%d} {match['time']}"
    return events.parse_local_time(text, zone)


def _told(event_id: int, moved: bool, count: int) -> str:
    # The CLI speaks English only: the standard library's gettext picks the English form.
    if moved:
        text = ngettext(
            "event {id} moved; {count} person will be told",
            "event {id} moved; {count} people will be told",
            count,
        )
    else:
        text = ngettext(
            "event {id} cancelled; {count} person will be told",
            "event {id} cancelled; {count} people will be told",
            count,
        )
    return text.format(id=event_id, count=count)


def _capacity(value: str | None) -> int | None:
    if value is None or value.lower() in ("none", "0", "-"):
        return None
    return int(value)


def _event_changes(args: argparse.Namespace) -> dict[str, object]:
    changes: dict[str, object] = {}
    title = {lang: getattr(args, f"title_{lang}") for lang in ("pl", "uk", "en")}
    if any(title.values()):
        changes["title"] = {lang: text for lang, text in title.items() if text}
    if args.capacity is not None:
        changes["capacity"] = _capacity(args.capacity)
    for name, value in (("duration_minutes", args.duration), ("join_link", args.link),
                        ("place", args.place)):
        if value is not None:
            changes[name] = value or None
    return changes


async def cmd_attendance(settings: Settings, args: argparse.Namespace) -> int:
    """`attendance BOOKING_ID attended|no_show|clear`, or per event: `attendance --event ID`
    lists the bookings and `attendance --event ID attended` marks every unmarked one."""
    from bot.cli_interns import open_session
    from bot.services import booking

    marks = {"attended": "attended", "no_show": "no_show", "clear": None}
    target = list(args.target)
    try:
        async with open_session(settings) as session:
            if args.event is None:
                if len(target) != 2 or not target[0].isdigit() or target[1] not in marks:
                    print("usage: attendance BOOKING_ID attended|no_show|clear", file=sys.stderr)
                    return 2
                await booking.mark_attendance(session, int(target[0]), marks[target[1]], utcnow())
                print(f"booking {target[0]}: {target[1]}")
                return 0
            entries = await booking.bookings_of(session, args.event, ("active",))
            if target and target[0] in marks:
                for entry, _person in entries:
                    if entry.attendance is None:
                        mark = marks[target[0]]
                        await booking.mark_attendance(session, entry.id, mark, utcnow())
            for entry, person in entries:
                print(f"{entry.id}\t{person.telegram_id}\t{entry.attendance or '-'}")
    except booking.BookingError as exc:
        print(f"attendance: {EVENT_ERRORS.get(exc.code, exc.code)}", file=sys.stderr)
        return 1
    return 0


async def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """The same export staff get with /export, written to a file; audited without an actor."""
    from pathlib import Path

    from bot.cli_interns import open_session
    from bot.i18n import create_i18n
    from bot.programme import default_programme_path, load_programme
    from bot.services import export, staff

    programme = load_programme(settings.programme_file or default_programme_path())
    i18n = create_i18n()
    async with open_session(settings) as session:
        with i18n.context(), i18n.use_locale(args.lang):
            sheets = await export.sheets(session, programme, args.lang)
        rows = sum(len(sheet.rows) for sheet in sheets)
        if args.format == "xlsx":
            content = export.to_xlsx(sheets)
        elif args.sheet:
            chosen = [s for s in sheets if s.name.casefold() == args.sheet.casefold()]
            if not chosen:
                print(f"no sheet {args.sheet!r}; sheets: {', '.join(s.name for s in sheets)}",
                      file=sys.stderr)
                return 1
            content, rows = export.csv_bytes(chosen[0].header, chosen[0].rows), len(chosen[0].rows)
        else:
            content = export.to_csv_zip(sheets)
        staff.audit_cli(session, "staff.export", target=args.format, count=rows)
    await asyncio.to_thread(Path(args.output).write_bytes, content)
    print(f"{args.output}: {rows} rows ({args.format})")
    return 0


# A dashboard link is meant for trying the page now, not for keeping.
LINK_MINUTES = 10


async def cmd_dashboard_link(settings: Settings, args: argparse.Namespace) -> int:
    """A signed dashboard address for a staff member, valid for 10 minutes.

    Signed as Telegram signs a Mini App's initData; its `auth_date` is set back so that the
    server's age limit (DASHBOARD_SESSION_MINUTES) runs out 10 minutes from now."""
    from urllib.parse import quote

    from bot.app import CONSOLE_TOKEN
    from bot.dashboard import DEFAULT_PORT
    from bot.dashboard.auth import sign_init_data

    if args.user_id <= 0:
        print("--user-id: a Telegram user id", file=sys.stderr)
        return 2
    backdate = timedelta(minutes=settings.dashboard_session_minutes - LINK_MINUTES)
    # Without BOT_TOKEN the link is for the console chat's dashboard, which checks it with the
    # console's own token (and listens on this machine only).
    token = settings.token or CONSOLE_TOKEN
    init_data = sign_init_data(token, args.user_id, now=utcnow() - backdate)
    base = (settings.token and settings.dashboard_address) or (
        f"http://127.0.0.1:{settings.dashboard_port or DEFAULT_PORT}/dashboard/"
    )
    print(f"{base}#tgWebAppData={quote(init_data, safe='')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="WIN4UA applicant bot. Without a command: the Telegram bot when BOT_TOKEN "
        "is set, otherwise the console chat.",
    )
    parser.set_defaults(func=cmd_auto)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    sub.add_parser("run", help="run the Telegram bot (long polling, or webhook if WEBHOOK_URL)")
    sub.choices["run"].set_defaults(func=cmd_run)

    console = sub.add_parser("console", help="chat with the bot in this terminal (no token)")
    console.add_argument("--lang", choices=["pl", "uk", "en"], help="Telegram language of the user")
    console.add_argument("--user-id", type=int, default=100001, help="Telegram id to act as")
    console.set_defaults(func=cmd_console)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    migrate.add_argument("--downgrade", action="store_true", help="go down to REVISION")
    migrate.set_defaults(func=cmd_migrate)

    reference = sub.add_parser("load-reference", help="load gminas, powiats, hromadas, settlements")
    reference.set_defaults(func=cmd_load_reference)

    staff = sub.add_parser("staff", help="manage staff by Telegram id")
    staff_sub = staff.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = staff_sub.add_parser("add", help="make someone staff")
    add.add_argument("telegram_id", type=int)
    add.add_argument("--admin", action="store_true", help="an admin can manage staff in Telegram")
    remove = staff_sub.add_parser("remove", help="take staff rights away")
    remove.add_argument("telegram_id", type=int)
    staff_sub.add_parser("list", help="list staff and admins")
    staff.set_defaults(func=cmd_staff)

    programme = sub.add_parser("programme", help="work with programme files")
    programme_sub = programme.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = programme_sub.add_parser("check", help="validate a programme file")
    check.add_argument("file", help="e.g. programmes/win4ua-2026.toml")
    check.set_defaults(func=cmd_programme_check)

    cli_interns.add_commands(sub)
    _add_event_commands(sub)

    export = sub.add_parser("export", help="applications, events and bookings as XLSX or CSV")
    export.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    export.add_argument("-o", "--output", required=True, help="file to write (CSV: a .zip of "
                        "one CSV per sheet, or one CSV with --sheet)")
    export.add_argument("--sheet", help="CSV only: just this sheet (its name, e.g. Events)")
    export.add_argument("--lang", choices=["pl", "uk", "en"], default="pl", help="headers")
    export.set_defaults(func=cmd_export)

    link = sub.add_parser(
        "dashboard-link", help="a signed link to the staff dashboard, valid for 10 minutes"
    )
    link.add_argument("--user-id", type=int, required=True, help="the staff member's Telegram id")
    link.set_defaults(func=cmd_dashboard_link)
    return parser


def _add_event_commands(sub: Any) -> None:
    event = sub.add_parser("event", help="information meetings and other events (Warsaw time)")
    event_sub = event.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = event_sub.add_parser("list", help="events from a week ago on")
    listing.add_argument("--all", action="store_true", help="past events too")
    create = event_sub.add_parser("create", help="create an event")
    create.add_argument("--start", required=True,
                        help='"2027-04-08 10:00" or "+7d 10:00" (a week from today), Warsaw time')
    for lang in ("pl", "uk", "en"):
        create.add_argument(f"--title-{lang}", required=True, help=f"title in {lang}")
    create.add_argument("--kind", default="info_meeting",
                        choices=["info_meeting", "internship", "study_visit", "other"])
    create.add_argument("--audience", default="municipality",
                        choices=["municipality", "intern", "all"])
    create.add_argument("--duration", type=int, default=60, help="minutes (default 60)")
    for parser in (create, edit := event_sub.add_parser("edit", help="change an event")):
        parser.add_argument("--capacity", help="seats, or none for no limit")
        parser.add_argument("--link", help="online join link (https://…)")
        parser.add_argument("--place", help="where it happens, if not online")
    edit.add_argument("event_id", type=int)
    edit.add_argument("--duration", type=int, help="minutes")
    for lang in ("pl", "uk", "en"):
        edit.add_argument(f"--title-{lang}", help=f"title in {lang}")
    move = event_sub.add_parser("move", help="move an event; everyone booked is told")
    move.add_argument("event_id", type=int)
    move.add_argument("--start", required=True,
                      help='"2027-04-08 10:00" or "+7d 10:00", Warsaw time')
    cancel = event_sub.add_parser("cancel", help="cancel an event; everyone booked is told")
    cancel.add_argument("event_id", type=int)
    event.set_defaults(func=cmd_event)

    attendance = sub.add_parser("attendance", help="mark who attended: BOOKING_ID MARK, or --event")
    attendance.add_argument("target", nargs="*", help="BOOKING_ID attended|no_show|clear")
    attendance.add_argument("--event", type=int, help="list (or mark all unmarked) of one event")
    attendance.set_defaults(func=cmd_attendance)


def _describe_database(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    secrets = [settings.token or ""]
    if settings.webhook_secret:
        secrets.append(settings.webhook_secret.get_secret_value())
    configure_logging(settings.log_level, secrets=secrets)
    try:
        return asyncio.run(args.func(settings, args))
    except KeyboardInterrupt:
        return 130
    except (OperationalError, DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(
            f"cannot use the database at {_describe_database(settings.database_url)}: {reason}",
            file=sys.stderr,
        )
        return 1
