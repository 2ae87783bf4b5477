"""Place questions (gmina, powiat, hromada): search by kind, and the answer stored on a pick.

The stored answer is a snapshot of the official record (code, kind, population and its year),
so the application keeps what the person chose even if reference data is updated later.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import places

PLACE_KINDS = ("gmina", "powiat", "hromada")

# Which Ukrainian communities an intern can choose. The 1,469 hromadas and Kyiv (a city with
# special status and its own self-government) are offered. Communities in temporarily occupied
# Crimea and Sevastopol are not: their legitimate bodies cannot host a partnership now, so the
# bot says so and points to the programme team instead of silently finding nothing.
SEVASTOPOL = "UA85000000000065278"
OFFERED_HROMADA_CATEGORIES = ("hromada", "special_city")


async def search(session: AsyncSession, kind: str, query: str, limit: int = 8) -> list[Any]:
    if kind == "gmina":
        return list(await places.search_gminas(session, query, limit))
    if kind == "powiat":
        return list(await places.search_powiats(session, query, limit))
    if kind == "hromada":
        found = await places.search_hromadas(session, query, limit + 1,
                                             categories=OFFERED_HROMADA_CATEGORIES)
        return [match for match in found if match.katottg != SEVASTOPOL][:limit]
    raise ValueError(kind)


async def only_in_occupied_territory(session: AsyncSession, query: str) -> bool:
    """True when a hromada search finds nothing offered but does match Crimea or Sevastopol."""
    found = await places.search_hromadas(session, query, 1, categories=("crimea", "special_city"))
    return any(m.category == "crimea" or m.katottg == SEVASTOPOL for m in found)


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
