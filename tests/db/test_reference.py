"""Reference data: loading the CSVs (idempotent, incremental, atomic) and searching places.

Runs on SQLite and PostgreSQL. On PostgreSQL every test shares one database whose reference
tables are not reset between tests, so tests that load edited files restore the originals.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.services import places
from bot.services.places import (
    HROMADA_CATEGORIES,
    TypoIndex,
    edit_distance,
    get_gmina,
    get_hromada,
    get_powiat,
    query_key,
    search_gminas,
    search_hromadas,
    search_powiats,
)
from db.engine import create_sessionmaker
from db.models import Gmina, Hromada, Powiat, ReferenceDataset, Settlement
from db.reference import DATASETS, REFERENCE_DIR, load_reference

BILA_TSERKVA_HROMADA = "UA32020010000093088"
WADOWICE = "1218093"
GROMADKA = "0201032"

ALL_SKIPPED = {dataset.name: 0 for dataset in DATASETS}


async def _count(session: AsyncSession, model: type, *where: object) -> int:
    stmt = select(func.count()).select_from(model)
    for condition in where:
        stmt = stmt.where(condition)  # type: ignore[arg-type]
    return (await session.execute(stmt)).scalar_one()


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with create_sessionmaker(engine)() as session:
        return {
            "gmina": await _count(session, Gmina),
            "powiat": await _count(session, Powiat),
            "hromada": await _count(session, Hromada, Hromada.category == "hromada"),
            "crimea": await _count(session, Hromada, Hromada.category == "crimea"),
            "special_city": await _count(session, Hromada, Hromada.category == "special_city"),
            "settlement": await _count(session, Settlement),
        }


EXPECTED_COUNTS = {
    "gmina": 2_479,
    "powiat": 380,
    "hromada": 1_469,
    "crimea": 303,
    "special_city": 2,
    "settlement": 29_705,
}


@pytest.fixture
async def edited_reference(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Path]:
    """A copy of the reference files to edit; the original data is reloaded afterwards."""
    directory = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, directory)
    for path in directory.iterdir():
        path.chmod(0o644)  # the shared copies are read-only
    yield directory
    await load_reference(engine)


def _edit_lines(path: Path, edit: dict[str, str | None]) -> None:
    """Replace (or, for None, drop) the lines starting with each code."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept: list[str] = []
    for line in lines:
        code = line.split(",", 1)[0]
        if code in edit:
            replacement = edit[code]
            if replacement is not None:
                kept.append(replacement)
            continue
        kept.append(line)
    path.write_text("".join(kept), encoding="utf-8")


# --- Loading --------------------------------------------------------------------------------


async def test_row_counts(engine: AsyncEngine) -> None:
    assert await _counts(engine) == EXPECTED_COUNTS


async def test_every_dataset_is_recorded_with_its_row_count(session: AsyncSession) -> None:
    recorded = dict(
        (await session.execute(select(ReferenceDataset.name, ReferenceDataset.rows))).all()
    )
    assert recorded == {
        "pl_gminas": 2_479,
        "pl_powiaty": 380,
        "ua_hromadas": 1_469,
        "ua_hromadas_crimea_and_special_cities": 305,
        "ua_settlements": 29_705,
    }


async def test_loading_again_is_a_no_op(engine: AsyncEngine) -> None:
    assert await load_reference(engine) == ALL_SKIPPED
    assert await load_reference(engine) == ALL_SKIPPED
    assert await _counts(engine) == EXPECTED_COUNTS


async def test_codes_keep_leading_zeros_and_empty_population_is_null(
    session: AsyncSession,
) -> None:
    boleslawiec = await get_gmina(session, "0201011")
    assert boleslawiec is not None
    assert (boleslawiec.name, boleslawiec.kind) == ("Bolesławiec", "gmina miejska")
    powiat = await get_powiat(session, "0201")
    assert powiat is not None and powiat.name == "bolesławiecki"

    szczawa = await get_gmina(session, "1207132")  # new gmina, no GUS figure yet
    assert szczawa is not None
    assert szczawa.population is None
    assert szczawa.population_note

    pripyat = await session.get(Settlement, "UA32000000010085013")  # exclusion zone
    assert pripyat is not None and pripyat.name_key == "prypiat"
    assert pripyat.hromada_katottg is None and pripyat.raion is None


async def test_hromada_categories_and_latin_names(session: AsyncSession) -> None:
    bila = await get_hromada(session, BILA_TSERKVA_HROMADA)
    assert bila is not None
    assert bila.name_uk == "Білоцерківська"
    assert bila.name_latin == "Bilotserkivska hromada"
    assert bila.oblast == "Київська область"
    assert bila.category == "hromada"
    kyiv = await get_hromada(session, "UA80000000000093317")
    assert kyiv is not None and kyiv.category == "special_city" and kyiv.raion is None
    assert await get_hromada(session, "UA00000000000000000") is None
    assert await get_gmina(session, "9999999") is None


async def test_a_changed_file_updates_and_deletes_rows(
    engine: AsyncEngine, edited_reference: Path
) -> None:
    gminas = edited_reference / "pl_gminas.csv"
    _edit_lines(
        gminas,
        {
            WADOWICE: f"{WADOWICE},Wadowice,gmina miejsko-wiejska,wadowicki,małopolskie,"
            "40000,2024,\n",
            GROMADKA: None,
        },
    )
    loaded = await load_reference(engine, edited_reference)
    assert loaded == {**ALL_SKIPPED, "pl_gminas": 2_478}
    assert await _counts(engine) == {**EXPECTED_COUNTS, "gmina": 2_478}

    async with create_sessionmaker(engine)() as session:
        wadowice = await get_gmina(session, WADOWICE)
        assert wadowice is not None
        assert (wadowice.population, wadowice.population_year) == (40_000, 2024)
        assert await get_gmina(session, GROMADKA) is None
        assert await search_gminas(session, "Gromadka") == []
        assert await search_gminas(session, "Gromadkka") == []  # nor through the typo index
        recorded = await session.get(ReferenceDataset, "pl_gminas")
        assert recorded is not None and recorded.rows == 2_478

    assert await load_reference(engine, edited_reference) == ALL_SKIPPED


async def test_a_changed_crimea_file_leaves_the_other_hromadas_alone(
    engine: AsyncEngine, edited_reference: Path
) -> None:
    """Two files share the hromada table; each deletes only rows of its own categories."""
    _edit_lines(
        edited_reference / "ua_hromadas_crimea_and_special_cities.csv",
        {"UA01020010000048857": None},  # Андріївська, Crimea
    )
    loaded = await load_reference(engine, edited_reference)
    assert loaded == {**ALL_SKIPPED, "ua_hromadas_crimea_and_special_cities": 304}
    assert await _counts(engine) == {**EXPECTED_COUNTS, "crimea": 302}


async def test_a_bad_file_rolls_back_the_whole_load(
    engine: AsyncEngine, edited_reference: Path
) -> None:
    _edit_lines(edited_reference / "pl_gminas.csv", {GROMADKA: None})
    settlements = edited_reference / "ua_settlements.csv"
    lines = settlements.read_text(encoding="utf-8").splitlines(keepends=True)
    settlements.write_text("".join([*lines, lines[1]]), encoding="utf-8")  # a repeated code

    with pytest.raises(ValueError, match=r"ua_settlements\.csv: katottg .* repeated"):
        await load_reference(engine, edited_reference)
    assert await _counts(engine) == EXPECTED_COUNTS  # the gmina change was rolled back too
    assert await load_reference(engine) == ALL_SKIPPED


# --- Searching gminas and powiats -----------------------------------------------------------


async def test_lodz_finds_lodz(session: AsyncSession) -> None:
    found = await search_gminas(session, "lodz")
    assert found[0].name == "Łódź"
    assert found[0].kind == "miasto na prawach powiatu"
    assert not found[0].fuzzy


async def test_wadowice(session: AsyncSession) -> None:
    found = await search_gminas(session, "wadowice")
    assert [(m.teryt, m.name) for m in found[:2]] == [
        (WADOWICE, "Wadowice"),
        ("1811102", "Wadowice Górne"),
    ]
    assert found[0].kind == "gmina miejsko-wiejska"
    assert found[0].powiat == "wadowicki"
    assert found[0].voivodeship == "małopolskie"
    assert (found[0].population, found[0].population_year) == (36_475, 2023)


async def test_boleslawiec_is_both_an_urban_and_a_rural_gmina(session: AsyncSession) -> None:
    found = await search_gminas(session, "Bolesławiec")
    in_powiat = [(m.name, m.kind) for m in found if m.powiat == "bolesławiecki"][:2]
    assert in_powiat == [
        ("Bolesławiec", "gmina miejska"),
        ("Bolesławiec", "gmina wiejska"),
    ]
    assert found[0].teryt == "0201011"  # exact matches first, the larger one first


async def test_warszawa_population(session: AsyncSession) -> None:
    found = await search_gminas(session, "Warszawa")
    assert found[0].name == "Warszawa"
    assert found[0].population == 1_861_599


async def test_prefix_and_word_matches_rank_after_exact(session: AsyncSession) -> None:
    names = [m.name for m in await search_gminas(session, "gora", limit=20)]
    assert names[0] == "Góra"
    assert names.index("Góra Kalwaria") < names.index("Zielona Góra")
    assert (await search_gminas(session, "krak"))[0].name == "Kraków"
    assert len(await search_gminas(session, "a", limit=3)) == 0
    assert len(await search_gminas(session, "gm", limit=3)) <= 3


@pytest.mark.parametrize(
    ("typo", "teryts"),
    [("Wadowce", [WADOWICE]), ("Bolesawiec", ["0201011", "0201022"]), ("Krakuw", ["1261011"])],
)
async def test_typos_are_tolerated(session: AsyncSession, typo: str, teryts: list[str]) -> None:
    found = await search_gminas(session, typo)
    assert [m.teryt for m in found[: len(teryts)]] == teryts
    assert all(m.fuzzy for m in found)


async def test_nonsense_finds_nothing(session: AsyncSession) -> None:
    assert await search_gminas(session, "qqqqzzzz") == []
    assert await search_powiats(session, "qqqqzzzz") == []
    assert await search_hromadas(session, "qqqqzzzz") == []


async def test_powiats_are_found_by_their_name_or_a_town_in_them(session: AsyncSession) -> None:
    found = await search_powiats(session, "powiat krakowski")
    assert (found[0].name, found[0].via_gmina) == ("krakowski", None)

    city, powiat = (await search_powiats(session, "Kraków"))[:2]
    assert (city.teryt, city.kind, city.via_gmina) == ("1261", "miasto na prawach powiatu", None)
    assert powiat.name == "krakowski"

    wadowicki = (await search_powiats(session, "wadowice"))[0]
    assert (wadowicki.teryt, wadowicki.name) == ("1218", "wadowicki")
    assert wadowicki.via_gmina == "Wadowice"
    assert wadowicki.population == 157_473

    fuzzy = (await search_powiats(session, "Wadowce"))[0]
    assert (fuzzy.name, fuzzy.fuzzy) == ("wadowicki", True)


# --- Searching hromadas ---------------------------------------------------------------------


@pytest.mark.parametrize("query", ["bila tserkva", "біла церква", "Біла Церква", "БІЛА ЦЕРКВА"])
async def test_town_name_finds_its_hromada(session: AsyncSession, query: str) -> None:
    found = await search_hromadas(session, query)
    assert found[0].katottg == BILA_TSERKVA_HROMADA
    assert found[0].name_uk == "Білоцерківська"
    assert found[0].via_settlement == "Біла Церква"
    assert found[0].raion == "Білоцерківський район"
    assert not found[0].fuzzy


@pytest.mark.parametrize(
    "query", ["Bilotserkivska", "білоцерківська", "Білоцерківська міська територіальна громада"]
)
async def test_hromada_name_finds_it_directly(session: AsyncSession, query: str) -> None:
    found = await search_hromadas(session, query)
    assert found[0].katottg == BILA_TSERKVA_HROMADA
    assert found[0].via_settlement is None
    # There is a second Білоцерківська (Полтавська), which is why pickers show the oblast.
    assert {m.oblast for m in found if m.name_uk == "Білоцерківська"} == {
        "Київська область",
        "Полтавська область",
    }


async def test_one_row_per_hromada_even_when_many_villages_match(session: AsyncSession) -> None:
    found = await search_hromadas(session, "Миколаївка", limit=50)
    assert len(found) == 50
    assert len({m.katottg for m in found}) == 50
    assert all(m.via_settlement == "Миколаївка" for m in found)


async def test_crimea_and_special_cities_only_when_asked(session: AsyncSession) -> None:
    assert await search_hromadas(session, "Бахчисарай") == []
    found = await search_hromadas(session, "Бахчисарай", categories=HROMADA_CATEGORIES)
    assert [(m.name_uk, m.category) for m in found] == [("Бахчисарайська", "crimea")]

    assert all(m.category == "hromada" for m in await search_hromadas(session, "Київ"))
    kyiv = await search_hromadas(session, "Київ", categories=("special_city",))
    assert [(m.katottg, m.via_settlement) for m in kyiv] == [("UA80000000000093317", None)]


async def test_hromada_typos_are_tolerated(session: AsyncSession) -> None:
    found = await search_hromadas(session, "bila tserkwa")
    assert found[0].katottg == BILA_TSERKVA_HROMADA
    assert found[0].fuzzy and found[0].via_settlement == "Біла Церква"
    assert (await search_hromadas(session, "Zhytomir"))[0].name_uk == "Житомирська"
    # Typo matches respect the categories too.
    assert await search_hromadas(session, "Бахчисарйа") == []


@pytest.mark.parametrize("query", ["%", "_", "%%", "a", "%a_", "  ", "", "ь"])
async def test_short_queries_and_like_wildcards_find_nothing(
    session: AsyncSession, query: str
) -> None:
    assert await search_gminas(session, query) == []
    assert await search_powiats(session, query) == []
    assert await search_hromadas(session, query) == []


async def test_wildcards_are_escaped_in_sql(session: AsyncSession) -> None:
    """Folding already removes % and _, and the SQL escapes them should a key ever hold one."""
    assert (await search_gminas(session, "%lodz%"))[0].name == "Łódź"
    for wildcard in ("%", "_", "w_dowice", "wad%"):
        stmt = select(Gmina.teryt).where(places._matches(Gmina.name_key, wildcard))
        assert (await session.scalars(stmt)).all() == []


async def test_limit(session: AsyncSession) -> None:
    assert len(await search_gminas(session, "ow", limit=3)) == 3
    assert await search_gminas(session, "lodz", limit=0) == []
    assert await search_hromadas(session, "lodz", categories=()) == []


# --- Pieces without a database ----------------------------------------------------------------


def test_query_key_drops_generic_words_at_the_ends() -> None:
    assert query_key("gmina Wadowice", leading=places._GMINA_LEADING) == "wadowice"
    assert query_key("Нове Село", leading=places._HROMADA_LEADING) == "nove selo"
    assert query_key("с. Яблунівка", leading=places._HROMADA_LEADING) == "yablunivka"
    assert query_key("Білоцерківська ТГ", trailing=places._HROMADA_TRAILING) == "bilotserkivska"
    assert query_key("gmina", leading=places._GMINA_LEADING) == "gmina"  # never the only word
    assert query_key("ą") == ""


@pytest.mark.parametrize(
    ("a", "b", "limit", "distance"),
    [
        ("wadowice", "wadowice", 2, 0),
        ("wadowce", "wadowice", 2, 1),
        ("wadowcie", "wadowice", 2, 1),  # swapped neighbours count once
        ("katowice", "wadowice", 2, 2),
        ("katowice", "wadowice", 1, None),
        ("krakow", "wadowice", 2, None),
        ("", "ab", 2, 2),
    ],
)
def test_edit_distance(a: str, b: str, limit: int, distance: int | None) -> None:
    assert edit_distance(a, b, limit) == distance


def test_typo_index_prefers_the_closest_and_the_whole_name() -> None:
    index = TypoIndex.build(
        [
            ("wadowice", "1", None, 0),
            ("wadowice gorne", "2", None, 0),
            ("sadowie", "3", None, 0),
        ]
    )
    assert index.nearest("wadowce", 5) == [("1", None), ("2", None)]
    assert index.nearest("sadowie", 5)[0] == ("3", None)
    assert index.nearest("wad", 5) == []  # too short to guess
