"""Canary personal data: every name, e-mail address and phone number a simulated person shows
or types in the end-to-end suite, and the bot token. The e2e conftest searches every log line
of the run for them (issue 7, item 8): none may appear.

What a person types is personal data until proven otherwise, so every typed text of some
length counts, not only what looks like an e-mail or a phone number; commands do not.
"""

from __future__ import annotations

import re

# Telegram profile of every simulated person unless a test says otherwise.
FIRST_NAME = "Kanarek"
LAST_NAME = "Zielonooki-Canary"
USERNAME = "kanarek_canary"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+?\d[\d \-()]{7,}\d")
MIN_TEXT = 8  # shorter typed texts ("Tak", "Hel", "12") are also words the bot itself logs


class Canaries:
    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, value: str | None, *, min_length: int = 4) -> None:
        value = (value or "").strip()
        if len(value) >= min_length:
            self.values.add(value)

    def typed(self, text: str) -> None:
        """Something a person typed: the whole text, and each e-mail address and phone number
        in it (a phone also as its digits, which is how a normalised +48… number shows)."""
        if text.startswith("/"):
            return
        self.add(text, min_length=MIN_TEXT)
        for found in EMAIL.finditer(text):
            self.add(found.group())
        for found in PHONE.finditer(text):
            self.add(found.group())
            self.add(re.sub(r"\D", "", found.group()), min_length=9)

    def search(self, lines: list[str]) -> list[tuple[str, str]]:
        """(canary, line) for every canary found; one pass over the whole text per canary."""
        text = "\n".join(lines)
        hits = []
        for value in sorted(self.values):
            if value in text:
                hits += [(value, line) for line in lines if value in line][:3]
        return hits


REGISTRY = Canaries()
