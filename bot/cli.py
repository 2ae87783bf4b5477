"""`python -m bot`: the composition root. Settings, engine, bot and dispatcher are built here."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable

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
    from bot.runners import run_polling, run_webhook

    if not settings.token:
        print("BOT_TOKEN is not set; try `python -m bot console`.", file=sys.stderr)
        return 2
    async with build_app(settings) as app:
        if settings.webhook_url:
            await run_webhook(app)
        else:
            await run_polling(app)
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
    from bot.app import prepare_database
    from bot.services import people
    from db.engine import create_engine, create_sessionmaker

    engine = create_engine(settings.database_url)
    try:
        await prepare_database(engine, settings)
        async with create_sessionmaker(engine)() as session, session.begin():
            if args.action == "list":
                members = await people.staff_members(session)
                for member in members:
                    print(f"{member.telegram_id}\t{member.role}")
                if not members:
                    print("no staff yet: python -m bot staff add TELEGRAM_ID")
            else:
                role = {"add": "admin" if args.admin else "staff", "remove": "user"}[args.action]
                await people.set_role(session, args.telegram_id, role)
                print(f"{args.telegram_id} is now {role}")
    finally:
        await engine.dispose()
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
    return parser


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
