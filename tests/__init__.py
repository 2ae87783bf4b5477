# As `python -m bot` does before anything imports aiogram: its models are built on first use
# (bot/lean_aiogram.py), so the tests exercise the bot the way it runs in production.
from bot import lean_aiogram

lean_aiogram.install()
