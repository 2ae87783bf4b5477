"""Catalog upkeep: `python tools/catalogs.py fill-english` copies msgids into the English catalog.

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


if __name__ == "__main__":
    if sys.argv[1:] != ["fill-english"]:
        print(__doc__)
        raise SystemExit(2)
    print(f"English catalog: {fill_english()} entries filled")
