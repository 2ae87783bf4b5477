from bot import lean_aiogram

lean_aiogram.install()  # before anything imports aiogram: ~100 MB less resident memory

from bot.cli import main  # noqa: E402

raise SystemExit(main())
