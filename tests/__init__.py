# As `python -m bot` does before anything imports aiogram: its models are built on first use
# and give objects their bot in one step (bot/lean_aiogram.py), so the tests exercise the bot
# the way it runs in production.
from bot import lean_aiogram

lean_aiogram.install()
lean_aiogram.one_step_post_init()
