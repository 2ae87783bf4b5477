"""The command menu, per language (setMyCommands with language_code)."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    MenuButtonDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import LANGUAGES, _
from bot.services import staff

log = logging.getLogger(__name__)


def public_commands() -> list[BotCommand]:
    return [
        BotCommand(command="start", description=_("Start or continue")),
        BotCommand(command="meetings", description=_("Information meetings: book or change")),
        BotCommand(command="about", description=_("About the programme")),
        BotCommand(command="help", description=_("What this bot can do")),
        BotCommand(command="language", description=_("Change language")),
        BotCommand(command="cancel", description=_("Cancel the current step")),
    ]


async def register_commands(bot: Bot, i18n: I18n) -> None:
    with i18n.context():
        for language in LANGUAGES:
            with i18n.use_locale(language):
                await bot.set_my_commands(
                    public_commands(), scope=BotCommandScopeDefault(), language_code=language
                )
        with i18n.use_locale("en"):
            await bot.set_my_commands(public_commands(), scope=BotCommandScopeDefault())


def staff_commands(admin: bool) -> list[BotCommand]:
    commands = [
        *public_commands(),
        BotCommand(command="stats", description=_("Where the recruitment stands")),
        BotCommand(command="export", description=_("Export as XLSX (/export csv for CSV)")),
        BotCommand(command="broadcast", description=_("Send a message to a group of people")),
        BotCommand(command="broadcasts", description=_("Scheduled and running broadcasts")),
        BotCommand(command="events", description=_("Events: dates, seats, attendance")),
        BotCommand(command="newevent", description=_("Create an event")),
        BotCommand(command="invite", description=_("Invitation links for interns")),
        BotCommand(command="match", description=_("Match interns with hosts")),
    ]
    if admin:
        commands.append(BotCommand(command="staff", description=_("Add or remove staff")))
    return commands


async def show_staff_menu(
    bot: Bot,
    i18n: I18n,
    chat_id: int,
    language: str | None,
    admin: bool,
    dashboard_url: str | None = None,
) -> None:
    """Staff see their commands in their own chat only (per language, and in their language
    for any other), so nobody else learns they exist; with a dashboard, their chat's menu
    button opens it (Telegram signs what it hands the page: see bot.dashboard.auth)."""
    scope = BotCommandScopeChat(chat_id=chat_id)
    try:
        with i18n.context():
            for code in LANGUAGES:
                with i18n.use_locale(code):
                    await bot.set_my_commands(staff_commands(admin), scope, language_code=code)
            with i18n.use_locale(language or "pl"):
                await bot.set_my_commands(staff_commands(admin), scope)
                if dashboard_url:
                    button = MenuButtonWebApp(
                        text=_("Dashboard"), web_app=WebAppInfo(url=dashboard_url)
                    )
                    await bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)
    except TelegramAPIError as exc:  # e.g. a staff member who has not started the bot yet
        log.info("staff menu for a chat not set: %s", exc.message)


async def hide_staff_menu(bot: Bot, chat_id: int) -> None:
    """Commands and the dashboard's menu button go (the button whether or not a dashboard is
    configured now: it may have been before)."""
    scope = BotCommandScopeChat(chat_id=chat_id)
    try:
        for code in (*LANGUAGES, None):
            await bot.delete_my_commands(scope, language_code=code)
        await bot.set_chat_menu_button(chat_id=chat_id, menu_button=MenuButtonDefault())
    except TelegramAPIError as exc:
        log.info("staff menu for a chat not removed: %s", exc.message)


async def sync_staff_menus(
    bot: Bot,
    i18n: I18n,
    sessionmaker: async_sessionmaker[AsyncSession],
    dashboard_url: str | None = None,
) -> None:
    """At start: menus for everyone who is staff, none for anyone who no longer is (roles may
    have changed through the CLI while the bot was down)."""
    async with sessionmaker() as session:
        members = [(p.telegram_id, p.language, p.role) for p in await staff.members(session)]
        former = await staff.former_members(session)
    for telegram_id, language, role in members:
        await show_staff_menu(
            bot, i18n, telegram_id, language, role == "admin", dashboard_url=dashboard_url
        )
    for telegram_id in former:
        await hide_staff_menu(bot, telegram_id)
