"""Catalog upkeep.

`python tools/catalogs.py fill-english` copies msgids into the English catalog.
`python tools/catalogs.py translate FILE.json` sets translations from a JSON file shaped
{"pl": {"msgid": "text" or ["one", "few", "many"]}, "uk": {...}} (exact msgids; a pgettext entry
as "context\u0004msgid").

English is the source language, so its catalog simply repeats each msgid; having it lets staff
adjust English wording without touching code, and lets the completeness test treat all three
catalogs alike.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent.parent / "locales"


def fill_english() -> int:
    path = LOCALES / "en" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            if not all(message.string):
                message.string = (message.id[0], message.id[1])
                filled += 1
        elif not message.string:
            message.string = message.id
            filled += 1
        message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, sort_output=True)
    return filled


def translate(source: Path) -> dict[str, int]:
    import json

    data = json.loads(source.read_text(encoding="utf-8"))
    applied: dict[str, int] = {}
    for language, entries in data.items():
        path = LOCALES / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        applied[language] = 0
        for key, text in entries.items():
            # "context\u0004msgid" (gettext's own separator) for a pgettext entry.
            context, _sep, msgid = key.rpartition("\u0004")
            message = catalog.get(msgid, context or None)
            if message is None:
                print(f"{language}: not in the catalog (run make update-messages?): {msgid!r}")
                continue
            message.string = tuple(text) if isinstance(text, list) else text
            message.flags.discard("fuzzy")
            applied[language] += 1
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, omit_header=False, sort_output=True)
    return applied


if __name__ == "__main__":
    if sys.argv[1:] == ["fill-english"]:
        print(f"English catalog: {fill_english()} entries filled")
    elif len(sys.argv) == 3 and sys.argv[1] == "translate":
        print(f"translations applied: {translate(Path(sys.argv[2]))}")
    else:
        print(__doc__)
        raise SystemExit(2)
