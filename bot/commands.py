"""The command menu, per language (setMyCommands with language_code)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeDefault
from aiogram.utils.i18n import I18n

from bot.i18n import LANGUAGES, _


def public_commands() -> list[BotCommand]:
    return [
        BotCommand(command="start", description=_("Start or continue")),
        BotCommand(command="meetings", description=_("Information meetings: book or change")),
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
