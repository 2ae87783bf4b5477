"""Finding a Ukrainian place by any form of its name, narrowing by region, occupied territory.

Runs on SQLite and PostgreSQL against the real reference data.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import pickers
from bot.services.places import search_hromadas

BILA_TSERKVA = "UA32020010000093088"
KYIV = "UA80000000000093317"
DOLMATIVSKA = "UA65080050000077041"


@pytest.mark.parametrize(
    "query",
    [
        "Біла Церква",  # Ukrainian
        "Bila Tserkva",  # KMU
        "Biała Cerkiew",  # the Polish exonym, the Polish prompt's own example
        "biala cerkiew",  # without diacritics
        "Biła Cerkwa",  # the Polish transcription
        "BIAŁA CERKIEW",
        "Biała Cerkew",  # a typo in the exonym
        "Bila Tserkwa",  # a typo in KMU
    ],
)
async def test_bila_tserkva_in_every_form(session: AsyncSession, query: str) -> None:
    found = await pickers.search(session, "hromada", query)
    assert found and found[0].katottg == BILA_TSERKVA, [m.name_uk for m in found[:3]]


@pytest.mark.parametrize("query", ["Kijów", "kijow", "Kiev", "Kyiv", "Київ", "Kyjiw"])
async def test_kyiv_in_every_form(session: AsyncSession, query: str) -> None:
    found = await pickers.search(session, "hromada", query)
    assert found and found[0].katottg == KYIV, [m.name_uk for m in found[:3]]


@pytest.mark.parametrize("query", ["Lwów", "lwow", "Lviv", "Lvov", "Львів", "Lwiw"])
async def test_lviv_in_every_form(session: AsyncSession, query: str) -> None:
    found = await pickers.search(session, "hromada", query)
    assert found and found[0].name_uk == "Львівська", [m.name_uk for m in found[:3]]


@pytest.mark.parametrize("query", ["Charków", "Kharkov", "Odessa", "Dniepr", "Zaporoże"])
async def test_other_exonyms_and_english_spellings(session: AsyncSession, query: str) -> None:
    found = await pickers.search(session, "hromada", query)
    assert found and found[0].admin_centre_category == "місто"
    assert found[0].name_uk in {"Харківська", "Одеська", "Дніпровська", "Запорізька"}


async def test_polish_transcription_of_a_village(session: AsyncSession) -> None:
    ukrainian = await pickers.search(session, "hromada", "Яблунівка")
    polish = await pickers.search(session, "hromada", "Jabłuniwka")
    assert len(ukrainian) > pickers.PAGE_SIZE
    assert {m.katottg for m in polish} == {m.katottg for m in ukrainian}


@pytest.mark.parametrize(
    "query",
    [
        "Яблунівка київська",
        "Яблунівка Київська обл.",
        "київська Яблунівка",
        "yablunivka kyiv",
        "Jabłuniwka kijowska",
        "Jabłuniwka obwód kijowski",
    ],
)
async def test_narrowing_by_oblast(session: AsyncSession, query: str) -> None:
    everywhere = await pickers.search(session, "hromada", "Яблунівка")
    in_kyiv = [m for m in everywhere if m.oblast == "Київська область"]
    found = await pickers.search(session, "hromada", query)
    assert found and len(found) < len(everywhere)
    assert {m.katottg for m in found} == {m.katottg for m in in_kyiv}


async def test_narrowing_by_raion(session: AsyncSession) -> None:
    found = await pickers.search(session, "hromada", "Яблунівка білоцерківський")
    assert found and all(m.raion == "Білоцерківський район" for m in found)
    polish = await pickers.search(session, "hromada", "Jabłuniwka Biała Cerkiew")
    assert {m.katottg for m in polish} == {m.katottg for m in found}


async def test_a_two_word_name_is_not_mistaken_for_a_region(session: AsyncSession) -> None:
    found = await pickers.search(session, "hromada", "Нове Село")
    assert len(found) > 1 and found[0].via_settlement == "Нове Село"


async def test_occupied_communities_are_data(session: AsyncSession) -> None:
    # Offered by default (only Crimea and Sevastopol are out)...
    found = await pickers.search(session, "hromada", "Долматівка")
    assert DOLMATIVSKA in {m.katottg for m in found}
    assert not await pickers.only_in_occupied_territory(session, "Долматівка")
    # ...and not once staff list the Skadovsk raion.
    occupied = ("UA01", "UA85", "UA6508")
    found = await pickers.search(session, "hromada", "Долматівка", occupied=occupied)
    assert DOLMATIVSKA not in {m.katottg for m in found}
    assert await pickers.only_in_occupied_territory(session, "Долматівка", occupied)
    assert await pickers.only_in_occupied_territory(session, "Сімферополь")
    sevastopol = await pickers.search(session, "hromada", "Севастополь")
    assert not any(m.katottg.startswith("UA85") for m in sevastopol)


async def test_crimea_by_its_polish_name_is_explained_too(session: AsyncSession) -> None:
    assert await pickers.search(session, "hromada", "Symferopol") == []
    assert await pickers.only_in_occupied_territory(session, "Symferopol")


async def test_search_hromadas_without_typos(session: AsyncSession) -> None:
    assert await search_hromadas(session, "Biała Cerkew", fuzzy=False) == []
    assert await search_hromadas(session, "Biała Cerkew")


def test_unknown_occupied_codes_are_reported() -> None:
    from db.reference import REFERENCE_DIR

    assert pickers.unknown_codes(["UA01", "UA6508", DOLMATIVSKA], REFERENCE_DIR) == []
    assert pickers.unknown_codes(["UA99", "UA650800"], REFERENCE_DIR) == ["UA99"]
