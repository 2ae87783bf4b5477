"""How a Ukrainian place name is spelled in Polish, and the other spellings that find it.

The reference loader (db/reference.py) stores these spellings in the indexed `name_forms`
column, so "Kijów", "kijow" and "kiev" find Київ; bot/place_names.py renders the same Polish
names for readers. Both need the same rules, so they live here, below both: the Polish
transcription of Ukrainian Cyrillic ("Біла Церква" → "Biła Cerkwa"), the Polish exonyms
(db/reference/pl_exonyms.csv) and `search_forms`, which folds them with db/textfold.py.
"""

from __future__ import annotations

import csv
import unicodedata
from functools import cache
from pathlib import Path

from db.textfold import APOSTROPHES, fold

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

# --- Polish transcription of Ukrainian Cyrillic -------------------------------------------------

_PL_PLAIN: dict[str, str] = {
    "а": "a", "б": "b", "в": "w", "г": "h", "ґ": "g", "д": "d", "е": "e", "ж": "ż", "з": "z",
    "и": "y", "і": "i", "й": "j", "к": "k", "л": "ł", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "ch", "ц": "c", "ч": "cz", "ш": "sz",
    "щ": "szcz", "ы": "y", "э": "e", "ё": "io",
}  # fmt: skip
# A consonant softened by ь where no vowel follows: "Тернопіль" → Ternopil, "Умань" → Umań.
_PL_SOFT: dict[str, str] = {"д": "dź", "з": "ź", "л": "l", "н": "ń", "с": "ś", "т": "ć", "ц": "ć"}
# я, ю, є, ї: "ja" at a word's start, after a vowel, an apostrophe or ь; after a consonant the
# consonant is softened with "i" ("Зінаїда" aside), after л just by the plain l ("Біляївка").
_PL_IOTATED: dict[str, tuple[str, str]] = {
    "я": ("ja", "ia"),
    "ю": ("ju", "iu"),
    "є": ("je", "ie"),
    "ї": ("ji", "ji"),
    "ё": ("jo", "io"),
}
_UK_VOWELS = frozenset("аеєиіїоуюяыэё")
_UK_CONSONANTS = frozenset("бвгґджзйклмнпрстфхцчшщ")
# л is hard (ł) unless a soft vowel or ь follows.
_SOFTENING_VOWELS = frozenset("іяюєїё")


def _pl_letter(lower: str, previous: str, following: str, after_following: str) -> str:
    if lower in _PL_IOTATED:
        initial, medial = _PL_IOTATED[lower]
        if previous in _UK_CONSONANTS:
            return medial[1:] if previous == "л" else medial
        return initial
    if lower == "ь":
        return ""  # its softening was written with the consonant before it
    if following == "ь":
        if after_following in _UK_VOWELS and after_following not in _PL_IOTATED:
            # "Льон", "Васьок": softened before a vowel, like before я.
            return "l" if lower == "л" else _PL_PLAIN[lower] + "i"
        if after_following in _PL_IOTATED:
            return "l" if lower == "л" else _PL_PLAIN[lower]
        return _PL_SOFT.get(lower, _PL_PLAIN.get(lower, lower))
    if lower == "л" and following in _SOFTENING_VOWELS:
        return "l"
    return _PL_PLAIN.get(lower, lower)


def transcribe_pl(text: str) -> str:
    """Ukrainian Cyrillic in Polish transcription, keeping case; other characters pass through.

    "Біла Церква" → "Biła Cerkwa", "Хмельницький" → "Chmelnyćkyj", "Знам’янка" → "Znamjanka".
    Use `settlement_name` for places: it prefers the Polish exonym ("Biała Cerkiew").
    """
    text = unicodedata.normalize("NFC", text)
    lowered = text.lower()
    out: list[str] = []
    for index, char in enumerate(text):
        lower = lowered[index]
        previous = lowered[index - 1] if index > 0 else ""
        following = lowered[index + 1] if index + 1 < len(text) else ""
        after_following = lowered[index + 2] if index + 2 < len(text) else ""
        if char in APOSTROPHES and (previous.isalpha() or following.isalpha()):
            continue  # the apostrophe is spoken as the j of the next letter
        if lower not in _PL_PLAIN and lower not in _PL_IOTATED and lower != "ь":
            out.append(char)
            continue
        latin = _pl_letter(lower, previous, following, after_following)
        if latin and char.isupper():
            neighbours = [text[i] for i in (index - 1, index + 1)
                          if 0 <= i < len(text) and text[i].isalpha()]
            if neighbours and all(ch.isupper() for ch in neighbours):
                latin = latin.upper()  # "ЩАСЛИВЕ" → "SZCZASŁYWE", not "SzczASŁYWE"
            else:
                latin = latin[0].upper() + latin[1:]
        out.append(latin)
    return "".join(out)


# --- Tables -------------------------------------------------------------------------------------


def normal_name(name: str) -> str:
    """One apostrophe for lookups: the Codifier writes ’, people and tables also '."""
    return "".join("’" if ch in APOSTROPHES else ch for ch in unicodedata.normalize("NFC", name))


def reference_rows(filename: str) -> list[dict[str, str]]:
    """The rows of one of the small tables in db/reference/ (exonyms, oblasts, raions, ...)."""
    with (REFERENCE_DIR / filename).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def exonyms() -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
    """(Ukrainian name, oblast) → (Polish exonym, other common spellings)."""
    return {
        (normal_name(row["name_uk"]), row["oblast_uk"]): (
            row["name_pl"],
            tuple(s for s in row["other_spellings"].split(";") if s),
        )
        for row in reference_rows("pl_exonyms.csv")
    }


# --- Search -------------------------------------------------------------------------------------


def search_forms(name_uk: str, oblast_uk: str | None) -> list[str]:
    """Folded spellings other than KMU under which a Ukrainian place can be found: the Polish
    exonym and transcription, common English spellings ("kiev"), all distinct."""
    forms = [fold(transcribe_pl(name_uk))]
    found = exonyms().get((normal_name(name_uk), oblast_uk or ""))
    if found:
        forms.append(fold(found[0]))
        forms.extend(fold(spelling) for spelling in found[1])
    own = fold(name_uk)
    return [form for form in dict.fromkeys(forms) if form and form != own]
