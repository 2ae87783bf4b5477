"""Place questions (gmina, powiat, hromada): search by kind, and the answer stored on a pick.

The stored answer is a snapshot of the official record (code, kind, population and its year),
so the application keeps what the person chose even if reference data is updated later.

A search returns every match up to `MAX_RESULTS`; the picker shows them a page at a time and
remembers the query on the application (`remember_search`), so a "next page" button carries
only the question and the page number. A query that names an oblast or raion besides the place
("Яблунівка київська", "yablunivka kyiv") is narrowed to that region.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.place_names import all_region_keys, region_keys
from bot.services import places
from db.models import Application
from db.repositories import applications
from db.textfold import fold

PLACE_KINDS = ("gmina", "powiat", "hromada")
PAGE_SIZE = 8
# Enough for the commonest village names in one oblast; beyond it the person narrows by region.
MAX_RESULTS = 96

# Which Ukrainian communities an intern can choose: the hromadas and Kyiv (a city with special
# status and its own self-government). Communities in temporarily occupied territory are not
# offered: their legitimate bodies cannot host a partnership now, so the bot says so and points
# to the programme team instead of silently finding nothing. Which ones is the programme's data
# (`[occupied]` in the programme file, KATOTTG codes or prefixes); these are the default.
DEFAULT_OCCUPIED = ("UA01", "UA85")  # the Autonomous Republic of Crimea, Sevastopol
OFFERED_HROMADA_CATEGORIES = ("hromada", "special_city")
ALL_HROMADA_CATEGORIES = ("hromada", "special_city", "crimea")
SEARCH_KEY = "_place_search"

# Words that only say "oblast" or "raion" in a narrowing query.
_REGION_WORDS = frozenset(
    {"obl", "oblast", "oblasti", "obwod", "raion", "rajon", "rejon", "r", "n", "rn", "region"}
)


def is_occupied(code: str, occupied: Sequence[str]) -> bool:
    return any(code.startswith(prefix) for prefix in occupied)


async def search(
    session: AsyncSession,
    kind: str,
    query: str,
    limit: int = MAX_RESULTS,
    occupied: Sequence[str] = DEFAULT_OCCUPIED,
) -> list[Any]:
    if kind == "gmina":
        return list(await places.search_gminas(session, query, limit))
    if kind == "powiat":
        return list(await places.search_powiats(session, query, limit))
    if kind == "hromada":
        return await _search_hromadas(session, query, limit, tuple(occupied))
    raise ValueError(kind)


async def _offered(
    session: AsyncSession, query: str, limit: int, occupied: tuple[str, ...]
) -> list[places.HromadaMatch]:
    # Ask for more: occupied communities are dropped after the search.
    found = await places.search_hromadas(
        session, query, limit * 2, categories=OFFERED_HROMADA_CATEGORIES, fuzzy=False
    )
    return [match for match in found if not is_occupied(match.katottg, occupied)][:limit]


async def _search_hromadas(
    session: AsyncSession, query: str, limit: int, occupied: tuple[str, ...]
) -> list[places.HromadaMatch]:
    """The name as typed; else the name narrowed by an oblast or raion typed with it; else typos."""
    found = await _offered(session, query, limit, occupied)
    if found:
        return found
    for name, region in _splits(query):
        narrowed = [
            match
            for match in await _offered(session, name, 500, occupied)
            if _in_region(match, region)
        ]
        if narrowed:
            return narrowed[:limit]
    found = await places.search_hromadas_by_typo(
        session, query, limit * 2, categories=OFFERED_HROMADA_CATEGORIES
    )
    return [match for match in found if not is_occupied(match.katottg, occupied)][:limit]


def _splits(query: str) -> list[tuple[str, list[str]]]:
    """(name, region words) readings of a query: the region's one or two words at either end."""
    words = fold(query).split()
    readings: list[tuple[str, list[str]]] = []
    for size in (1, 2):
        if len(words) <= size:
            break
        readings.append((" ".join(words[:-size]), words[-size:]))
        readings.append((" ".join(words[size:]), words[:size]))
    known = all_region_keys()
    result = []
    for name, region in readings:
        region = [word for word in region if word not in _REGION_WORDS]
        if (
            region
            and len(name) >= places.MIN_QUERY_LENGTH
            and all(any(_region_word_matches(word, key) for key in known) for word in region)
        ):
            result.append((name, region))
    return result


def _in_region(match: places.HromadaMatch, region: list[str]) -> bool:
    keys = region_keys(match.oblast, match.raion)
    return all(any(_region_word_matches(word, key) for key in keys) for word in region)


def _region_word_matches(word: str, key: str) -> bool:
    """"kyiv" and "kyivska" name Kyivska oblast; "kijowska" (feminine) names obwód kijowski."""
    if len(word) < 3:
        return False
    return key.startswith(word) or (len(word) >= 5 and word.startswith(key[:-1]))


async def only_in_occupied_territory(
    session: AsyncSession, query: str, occupied: Sequence[str] = DEFAULT_OCCUPIED
) -> bool:
    """True when a hromada search finds nothing offered but does match an occupied community."""
    found = await places.search_hromadas(session, query, 50, categories=ALL_HROMADA_CATEGORIES)
    return any(is_occupied(match.katottg, occupied) for match in found)


def remember_search(application: Application, question_id: str, query: str) -> None:
    """Keep the query for the picker's pages (an underscore key: never exported or shown)."""
    answers = dict(application.answers)
    answers[SEARCH_KEY] = {"q": question_id, "text": query}
    applications.change(application, answers=answers)


def remembered_search(application: Application, question_id: str) -> str | None:
    saved = application.answers.get(SEARCH_KEY)
    if isinstance(saved, dict) and saved.get("q") == question_id:
        return str(saved.get("text") or "") or None
    return None


def forget_search(application: Application) -> None:
    if SEARCH_KEY in application.answers:
        answers = dict(application.answers)
        answers.pop(SEARCH_KEY)
        applications.change(application, answers=answers)


def code_of(match: Any) -> str:
    return str(getattr(match, "katottg", None) or match.teryt)


async def snapshot(session: AsyncSession, kind: str, code: str) -> dict[str, Any] | None:
    if kind == "gmina":
        match: Any = await places.get_gmina(session, code)
    elif kind == "powiat":
        match = await places.get_powiat(session, code)
    elif kind == "hromada":
        match = await places.get_hromada(session, code)
    else:
        return None
    if match is None:
        return None
    data = asdict(match)
    for transient in ("fuzzy", "via_settlement", "via_gmina"):
        data.pop(transient, None)
    return data


def unknown_codes(entries: Sequence[str], reference_dir: Path) -> list[str]:
    """Entries of an `[occupied]` list that match no community in the reference files: a typo
    there would silently protect nobody, so `programme check` reports them."""
    codes: list[str] = []
    for name in ("ua_hromadas.csv", "ua_hromadas_crimea_and_special_cities.csv"):
        with (reference_dir / name).open(encoding="utf-8-sig", newline="") as handle:
            codes.extend(row["katottg"] for row in csv.DictReader(handle))
    return [entry for entry in entries if not any(code.startswith(entry) for code in codes)]
