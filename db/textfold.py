"""Text folding for place search: one comparable key for Polish, Ukrainian and Latin spellings.

Interns and hosts type place names in whatever script and keyboard they have: "Łódź" or "lodz",
"Біла Церква" or "bila tserkva". Folding both the stored names and the query to the same
lower-case ASCII key lets one indexed column answer all of them. Ukrainian is romanised with the
official KMU-2010 table (Cabinet Resolution No. 55 of 27.01.2010), the system used on Ukrainian
passports and road signs, so the Latin spelling an intern already knows is the one that matches.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "romanise_uk"]

# KMU-2010 for the letters whose romanisation does not depend on position.
_UK_PLAIN: dict[str, str] = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "h",
    "ґ": "g",
    "д": "d",
    "е": "e",
    "ж": "zh",
    "з": "z",
    "и": "y",
    "і": "i",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ь": "",
    # Russian-only letters, which turn up in older names and in queries typed on a Russian
    # layout: romanised the way a Ukrainian reader would expect, and the hard sign, like the
    # apostrophe, only separates letters.
    "ы": "y",
    "э": "e",
    "ъ": "",
    # Belarusian short u, for completeness.
    "ў": "u",
}
# Letters written one way at the start of a word and another way elsewhere.
_UK_INITIAL: dict[str, tuple[str, str]] = {
    "є": ("ye", "ie"),
    "ї": ("yi", "i"),
    "й": ("y", "i"),
    "ю": ("yu", "iu"),
    "я": ("ya", "ia"),
    "ё": ("yo", "io"),
}
# The apostrophe marks separate pronunciation and is dropped; it does not start a new word
# (Знам'янка → Znamianka), and ъ behaves the same.
APOSTROPHES = frozenset("'’ʼ‘`")
_UK_LETTERS = frozenset(_UK_PLAIN) | frozenset(_UK_INITIAL)

# Latin letters that NFKD does not split into a base letter plus a combining mark.
_LATIN_EXTRA = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "æ": "ae",
        "œ": "oe",
        "ı": "i",
        "ß": "ss",
        "ħ": "h",
        "ŧ": "t",
        "ŀ": "l",
    }
)
_NOT_KEY = re.compile(r"[^a-z0-9]+")


def _is_word_start(text: str, index: int) -> bool:
    """True when the letter at `index` begins a word (apostrophes do not break a word)."""
    position = index - 1
    while position >= 0 and text[position] in APOSTROPHES:
        position -= 1
    return position < 0 or not text[position].isalpha()


def _match_case(latin: str, text: str, index: int) -> str:
    """Case `latin` like the Cyrillic letter it replaces: Щ → Shch in "Щасливе", SHCH in caps."""
    if not latin or not text[index].isupper():
        return latin
    neighbours = [
        text[i] for i in (index - 1, index + 1) if 0 <= i < len(text) and text[i].isalpha()
    ]
    if neighbours and all(ch.isupper() for ch in neighbours):
        return latin.upper()
    return latin[0].upper() + latin[1:]


def romanise_uk(text: str) -> str:
    """Romanise Ukrainian Cyrillic with KMU-2010, keeping case; other characters pass through.

    "Біла Церква" → "Bila Tserkva", "Згурівка" → "Zghurivka", "Яготин" → "Yahotyn".
    Apostrophes next to Cyrillic letters are dropped, as the standard says.
    """
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for index, char in enumerate(text):
        lower = char.lower()
        if lower in _UK_INITIAL:
            initial, medial = _UK_INITIAL[lower]
            latin = initial if _is_word_start(text, index) else medial
        elif lower == "г" and index > 0 and text[index - 1].lower() == "з":
            latin = "gh"  # зг → zgh, so it is not read as the digraph zh
        elif lower in _UK_PLAIN:
            latin = _UK_PLAIN[lower]
        elif char in APOSTROPHES and _touches_cyrillic(text, index):
            continue
        else:
            out.append(char)
            continue
        out.append(_match_case(latin, text, index))
    return "".join(out)


def _touches_cyrillic(text: str, index: int) -> bool:
    return any(
        0 <= i < len(text) and text[i].lower() in _UK_LETTERS for i in (index - 1, index + 1)
    )


def fold(text: str) -> str:
    """Fold a place name or query to its search key: lower-case ASCII letters, digits, spaces.

    Compatibility forms are unified first (NFKC composes a decomposed й before it can lose its
    breve), Cyrillic is romanised, then diacritics are stripped and every run of anything else
    becomes one space. The result contains only [a-z0-9 ] and fold(fold(x)) == fold(x).
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if ch not in APOSTROPHES)
    text = romanise_uk(text).translate(_LATIN_EXTRA)
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_KEY.sub(" ", text.lower()).strip()
