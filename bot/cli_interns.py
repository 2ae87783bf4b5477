"""CLI for interns: `invite create|list|revoke`, `match INTERN HOST`, `match --suggest INTERN`,
`unmatch INTERN` (application ids, as in the export)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from db.base import utcnow


@asynccontextmanager
async def open_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A migrated database and one transaction, committed when the block ends without error."""
    from bot.app import prepare_database
    from db.engine import create_engine, create_sessionmaker

    engine = create_engine(settings.database_url)
    try:
        await prepare_database(engine, settings)
        async with create_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


async def bot_username(settings: Settings) -> str | None:
    """From getMe when there is a token, else BOT_USERNAME, so the CLI also works offline."""
    if settings.token:
        from bot.app import create_bot

        bot = create_bot(settings)
        try:
            return (await bot.get_me()).username
        finally:
            await bot.session.close()
    return settings.bot_username


async def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services import invites

    async with open_session(settings) as session:
        if args.action == "create":
            created = await invites.create(session, args.count, note=args.note, language=args.lang)
            codes = [invite.code for invite in created]
        elif args.action == "revoke":
            if not await invites.revoke(session, args.code, utcnow()):
                print(f"no active invitation {args.code}", file=sys.stderr)
                return 1
            print(f"revoked {args.code}")
            return 0
        else:
            for invite in await invites.listing(session, args.limit):
                state = (
                    "revoked" if invite.revoked_at else "used" if invite.used_by_id else "unused"
                )
                print(f"{invite.code}\t{state}\t{invite.language}\t{invite.note or ''}")
            return 0
    username = await bot_username(settings)
    for code in codes:
        print(invites.deep_link(username, code) if username else code)
    if not username:
        print("(set BOT_USERNAME or BOT_TOKEN to print t.me links)", file=sys.stderr)
    return 0


MATCH_ERRORS = {
    "no_intern": "no intern application with that id",
    "no_host": "no host application with that id in the same programme",
    "not_eligible": "both applications must be eligible",
    "already_matched": "this intern is already matched; unmatch first",
    "not_matched": "this intern has no match",
}


async def cmd_match(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services import matching
    from db.models import Application

    async with open_session(settings) as session:
        try:
            if args.suggest:
                intern = await session.get(Application, args.intern)
                if intern is None or intern.audience != "intern":
                    raise matching.MatchError("no_intern")
                for s in await matching.suggestions(session, intern, limit=10):
                    name = s.host.answers.get("gmina") or s.host.answers.get("powiat") or {}
                    print(
                        f"{s.host.id}\t{name.get('name', '?')}\tshared: "
                        f"{', '.join(s.overlap) or '-'}\tinterns: {s.interns}"
                    )
                return 0
            if args.host is None:
                print("give HOST, or --suggest", file=sys.stderr)
                return 2
            await matching.match(session, args.intern, args.host, utcnow())
        except matching.MatchError as exc:
            print(MATCH_ERRORS[exc.code], file=sys.stderr)
            return 1
    print(f"matched intern {args.intern} with host {args.host}; both will be told")
    return 0


async def cmd_unmatch(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services import matching

    async with open_session(settings) as session:
        try:
            await matching.unmatch(session, args.intern, utcnow())
        except matching.MatchError as exc:
            print(MATCH_ERRORS[exc.code], file=sys.stderr)
            return 1
    print(f"unmatched intern {args.intern}; both will be told")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    invite = sub.add_parser("invite", help="single-use invitation links for interns")
    actions = invite.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create invitation links")
    create.add_argument("--count", type=int, default=1)
    create.add_argument("--note", help="who it is for (kept with the invite)")
    create.add_argument(
        "--lang",
        choices=["uk", "pl", "en"],
        default="uk",
        help="language of the first screen (default: uk)",
    )
    listing = actions.add_parser("list", help="recent invitations and their state")
    listing.add_argument("--limit", type=int, default=50)
    revoke = actions.add_parser("revoke", help="withdraw an unused invitation")
    revoke.add_argument("code")
    invite.set_defaults(func=cmd_invite)

    match = sub.add_parser("match", help="match an intern with a host (application ids)")
    match.add_argument("intern", type=int)
    match.add_argument("host", type=int, nargs="?")
    match.add_argument("--suggest", action="store_true", help="list hosts ranked for the intern")
    match.set_defaults(func=cmd_match)

    unmatch = sub.add_parser("unmatch", help="end an intern's match")
    unmatch.add_argument("intern", type=int)
    unmatch.set_defaults(func=cmd_unmatch)
