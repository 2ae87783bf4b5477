"""Place names in the reader's language: Polish transcription, exonyms, oblasts, raions,
hromadas and Polish gminas in pl / uk / en (bot.place_names, db.place_spellings)."""

from __future__ import annotations

import csv
import re

import pytest

from bot import place_names
from bot.place_names import (
    describe,
    hromada_name,
    oblast_name,
    raion_name,
    region_name,
    settlement_name,
)
from db.place_spellings import search_forms, transcribe_pl
from db.reference import REFERENCE_DIR

CYRILLIC = re.compile("[\u0400-\u04ff]")

BILA_TSERKVA = {
    "katottg": "UA32020010000093088",
    "name_uk": "Білоцерківська",
    "name_latin": "Bilotserkivska hromada",
    "oblast": "Київська область",
    "raion": "Білоцерківський район",
    "category": "hromada",
    "admin_centre": "Біла Церква",
    "admin_centre_category": "місто",
}
PRYSTOLYCHNA = {
    "katottg": "UA32020000000000001",
    "name_uk": "Пристолична",
    "name_latin": "Prystolychna hromada",
    "oblast": "Київська область",
    "raion": "Бориспільський район",
    "category": "hromada",
    "admin_centre": "Щасливе",
    "admin_centre_category": "село",
}
KYIV = {
    "katottg": "UA80000000000093317",
    "name_uk": "Київ",
    "name_latin": "Kyiv",
    "oblast": "місто зі спеціальним статусом",
    "raion": None,
    "category": "special_city",
    "admin_centre": "Київ",
    "admin_centre_category": "місто",
}
WADOWICE = {
    "teryt": "1218093",
    "name": "Wadowice",
    "kind": "gmina miejsko-wiejska",
    "powiat": "wadowicki",
    "voivodeship": "małopolskie",
}
KRAKOW = {
    "teryt": "1261011",
    "name": "Kraków",
    "kind": "miasto na prawach powiatu",
    "powiat": "Kraków",
    "voivodeship": "małopolskie",
}
SEJNY_POWIAT = {"teryt": "2011", "name": "sejneński", "kind": "powiat", "voivodeship": "podlaskie"}


@pytest.mark.parametrize(
    ("ukrainian", "polish"),
    [
        ("Біла Церква", "Biła Cerkwa"),  # л before a → ł, ц → c, в → w
        ("Житомир", "Żytomyr"),  # ж → ż, и → y
        ("Чернігів", "Czernihiw"),  # ч → cz, г → h
        ("Шостка", "Szostka"),  # ш → sz
        ("Щасливе", "Szczasływe"),  # щ → szcz
        ("Харків", "Charkiw"),  # х → ch
        ("Ґорґани", "Gorgany"),  # ґ → g
        ("Яблунівка", "Jabłuniwka"),  # я at the start → ja
        ("Єнакієве", "Jenakijewe"),  # є at the start and after a vowel → je
        ("Сєвєродонецьк", "Siewierodonećk"),  # є after a consonant → ie; ць → ć
        ("Київ", "Kyjiw"),  # ї → ji
        ("Юр’ївка", "Jurjiwka"),  # ю at the start → ju; apostrophe then ї
        ("Знам’янка", "Znamjanka"),  # the apostrophe becomes the j of я
        ("Знам'янка", "Znamjanka"),  # ASCII apostrophe too
        ("Любомль", "Luboml"),  # л before ю → l (no i), ль at the end → l
        ("Тернопіль", "Ternopil"),  # ль → l
        ("Умань", "Umań"),  # нь → ń
        ("Васьківці", "Waśkiwci"),  # сь → ś
        ("Луцьк", "Łućk"),  # ць → ć
        ("Козятин", "Koziatyn"),  # я after a consonant → ia
        ("Хмельницький", "Chmelnyćkyj"),  # й → j
        ("Біляївка", "Bilajiwka"),  # ля → la
        ("Гайсин", "Hajsyn"),
        ("ЗАПОРІЖЖЯ", "ZAPORIŻŻIA"),  # capitals stay capitals, digraphs too
        ("ЩАСЛИВЕ", "SZCZASŁYWE"),
    ],
)
def test_polish_transcription(ukrainian: str, polish: str) -> None:
    assert transcribe_pl(ukrainian) == polish


def test_transcription_leaves_latin_and_digits_alone() -> None:
    assert transcribe_pl("Łódź 2") == "Łódź 2"


@pytest.mark.parametrize(
    ("ukrainian", "oblast", "polish"),
    [
        ("Київ", "місто зі спеціальним статусом", "Kijów"),
        ("Львів", "Львівська область", "Lwów"),
        ("Харків", "Харківська область", "Charków"),
        ("Одеса", "Одеська область", "Odessa"),
        ("Біла Церква", "Київська область", "Biała Cerkiew"),
        ("Вінниця", "Вінницька область", "Winnica"),
        ("Луцьк", "Волинська область", "Łuck"),
        ("Рівне", "Рівненська область", "Równe"),
        ("Тернопіль", "Тернопільська область", "Tarnopol"),
        ("Житомир", "Житомирська область", "Żytomierz"),
        ("Чернівці", "Чернівецька область", "Czerniowce"),
        ("Хмельницький", "Хмельницька область", "Chmielnicki"),
        ("Черкаси", "Черкаська область", "Czerkasy"),
        ("Чернігів", "Чернігівська область", "Czernihów"),
        ("Полтава", "Полтавська область", "Połtawa"),
        ("Запоріжжя", "Запорізька область", "Zaporoże"),
        ("Миколаїв", "Миколаївська область", "Mikołajów"),
        ("Херсон", "Херсонська область", "Chersoń"),
        ("Ужгород", "Закарпатська область", "Użhorod"),
        ("Івано-Франківськ", "Івано-Франківська область", "Iwano-Frankiwsk"),
        ("Дніпро", "Дніпропетровська область", "Dniepr"),
        ("Кривий Ріг", "Дніпропетровська область", "Krzywy Róg"),
        ("Суми", "Сумська область", "Sumy"),
        ("Луганськ", "Луганська область", "Ługańsk"),
        ("Донецьк", "Донецька область", "Donieck"),
        ("Кропивницький", "Кіровоградська область", "Kropywnycki"),
        ("Кам’янець-Подільський", "Хмельницька область", "Kamieniec Podolski"),
        ("Кам'янець-Подільський", "Хмельницька область", "Kamieniec Podolski"),
        # No exonym: the transcription. A village named like a city elsewhere keeps its own.
        ("Яблунівка", "Київська область", "Jabłuniwka"),
        ("Київ", "Миколаївська область", "Kyjiw"),
    ],
)
def test_polish_readers_see_the_exonym_or_the_transcription(
    ukrainian: str, oblast: str, polish: str
) -> None:
    assert settlement_name(ukrainian, oblast, "pl") == polish


def test_other_languages_see_ukrainian_or_kmu() -> None:
    assert settlement_name("Біла Церква", "Київська область", "uk") == "Біла Церква"
    assert settlement_name("Біла Церква", "Київська область", "en") == "Bila Tserkva"
    assert settlement_name("Згурівка", "Київська область", "en") == "Zghurivka"
    assert settlement_name("Знам’янка", "Кіровоградська область", "en") == "Znamianka"


def test_the_exonym_table_is_well_formed() -> None:
    with (REFERENCE_DIR / "pl_exonyms.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with (REFERENCE_DIR / "ua_oblasts.csv").open(encoding="utf-8", newline="") as handle:
        oblasts = {row["oblast_uk"] for row in csv.DictReader(handle)}
    assert len(rows) >= 150
    assert len({(row["name_uk"], row["oblast_uk"]) for row in rows}) == len(rows)
    for row in rows:
        assert row["oblast_uk"] in oblasts, row
        assert not CYRILLIC.search(row["name_pl"] + row["other_spellings"]), row
        assert CYRILLIC.search(row["name_uk"]), row


@pytest.mark.parametrize(
    ("language", "expected"),
    [("pl", "obwód kijowski"), ("uk", "Київська обл."), ("en", "Kyivska oblast")],
)
def test_oblast(language: str, expected: str) -> None:
    assert oblast_name("Київська область", language) == expected


def test_every_oblast_and_crimea_has_a_polish_name() -> None:
    with (REFERENCE_DIR / "ua_hromadas.csv").open(encoding="utf-8", newline="") as handle:
        oblasts = {row["oblast_uk"] for row in csv.DictReader(handle)}
    assert len(oblasts) == 24
    for oblast in [*oblasts, "Автономна Республіка Крим"]:
        polish = oblast_name(oblast, "pl")
        assert not CYRILLIC.search(polish), oblast
    assert oblast_name("Автономна Республіка Крим", "pl") == "Autonomiczna Republika Krymu"
    assert oblast_name("Львівська область", "pl") == "obwód lwowski"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("pl", "rejon Biała Cerkiew"),
        ("uk", "Білоцерківський р-н"),
        ("en", "Bilotserkivskyi raion"),
    ],
)
def test_raion(language: str, expected: str) -> None:
    assert raion_name("Білоцерківський район", "Київська область", language) == expected


def test_raion_without_a_known_centre_gets_a_polish_adjective() -> None:
    assert raion_name("Дністровський район", "Чернівецька область", "pl") == "rejon dnistrowski"
    # The centre set by hand (Червоноград renamed Шептицький).
    assert raion_name("Шептицький район", "Львівська область", "pl") == "rejon Szeptyćkyj"


@pytest.mark.parametrize(
    ("place", "language", "expected"),
    [
        (BILA_TSERKVA, "uk", "Білоцерківська міська громада"),
        (BILA_TSERKVA, "pl", "hromada Biała Cerkiew"),
        (BILA_TSERKVA, "en", "Bilotserkivska urban hromada"),
        (PRYSTOLYCHNA, "uk", "Пристолична сільська громада"),
        (PRYSTOLYCHNA, "pl", "hromada Prystołyczna"),  # not named after its centre
        (KYIV, "uk", "місто Київ"),
        (KYIV, "pl", "Kijów"),
        (KYIV, "en", "Kyiv"),
    ],
)
def test_hromada_name(place: dict[str, str], language: str, expected: str) -> None:
    assert hromada_name(place, language) == expected


def test_hromada_confirmation_names_it_fully() -> None:
    assert describe(BILA_TSERKVA, "uk") == (
        "Білоцерківська міська громада, Білоцерківський р-н, Київська обл."
    )
    assert describe(BILA_TSERKVA, "pl") == (
        "hromada Biała Cerkiew, rejon Biała Cerkiew, obwód kijowski"
    )
    assert describe(BILA_TSERKVA, "en") == (
        "Bilotserkivska urban hromada, Bilotserkivskyi raion, Kyivska oblast"
    )
    assert describe(KYIV, "pl") == "Kijów"


def test_a_snapshot_without_the_centre_category_still_reads_well() -> None:
    older = {k: v for k, v in BILA_TSERKVA.items() if k != "admin_centre_category"}
    assert hromada_name(older, "uk") == "Білоцерківська громада"


@pytest.mark.parametrize(
    ("place", "language", "expected"),
    [
        (WADOWICE, "pl", "Wadowice (gmina miejsko-wiejska, powiat wadowicki, małopolskie)"),
        (
            WADOWICE,
            "uk",
            "Wadowice (місько-сільська гміна, повіт wadowicki, Малопольське воєводство)",
        ),
        (WADOWICE, "en", "Wadowice (urban-rural gmina, powiat wadowicki, małopolskie)"),
        (KRAKOW, "pl", "Kraków (miasto na prawach powiatu, małopolskie)"),  # no powiat Kraków
        (KRAKOW, "uk", "Kraków (місто на правах повіту, Малопольське воєводство)"),
        (SEJNY_POWIAT, "pl", "powiat sejneński (podlaskie)"),
        (SEJNY_POWIAT, "uk", "повіт sejneński (Підляське воєводство)"),
        (SEJNY_POWIAT, "en", "powiat sejneński (podlaskie)"),
    ],
)
def test_polish_places(place: dict[str, str], language: str, expected: str) -> None:
    assert describe(place, language) == expected


def test_place_title_puts_powiat_first() -> None:
    assert place_names.place_title(SEJNY_POWIAT, "pl") == "powiat sejneński"
    city = {"teryt": "1261", "name": "Kraków", "kind": "miasto na prawach powiatu",
            "voivodeship": "małopolskie"}
    assert place_names.place_title(city, "pl") == "Kraków"


def test_stats_regions() -> None:
    assert region_name("Київська область", "pl") == "obwód kijowski"
    assert region_name("Київська область", "en") == "Kyivska oblast"
    assert region_name("Київська область", "uk") == "Київська область"
    assert region_name("małopolskie", "uk") == "Малопольське воєводство"
    assert region_name("małopolskie", "pl") == "małopolskie"


def test_no_cyrillic_on_a_polish_screen_for_any_hromada() -> None:
    """Every hromada of the reference data, named in full in Polish and English."""
    names = ("ua_hromadas.csv", "ua_hromadas_crimea_and_special_cities.csv")
    for name in names:
        with (REFERENCE_DIR / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                place = {
                    "katottg": row["katottg"],
                    "name_uk": row["name_uk"],
                    "name_latin": row["name_en_or_latin_if_available"],
                    "oblast": row["oblast_uk"],
                    "raion": row["raion_uk"] or None,
                    "admin_centre": row["admin_centre_uk"],
                    "admin_centre_category": row["admin_centre_category_uk"],
                    "category": "hromada",
                }
                for language in ("pl", "en"):
                    text = describe(place, language)
                    assert not CYRILLIC.search(text), (language, text)
                assert not re.search("[A-Za-z]", describe(place, "uk")), place


def test_search_forms() -> None:
    assert search_forms("Біла Церква", "Київська область") == ["bila cerkwa", "biala cerkiew"]
    kyiv = search_forms("Київ", "місто зі спеціальним статусом")
    assert {"kijow", "kiev", "kyjiw"} <= set(kyiv) and "kyiv" not in kyiv  # KMU is the own key
    assert "lwow" in search_forms("Львів", "Львівська область")
    assert "lviv" not in search_forms("Львів", "Львівська область")


def test_every_settlement_transcribes_without_cyrillic_or_apostrophes() -> None:
    with (REFERENCE_DIR / "ua_settlements.csv").open(encoding="utf-8", newline="") as handle:
        names = {row["name_uk"] for row in csv.DictReader(handle)}
    assert len(names) > 10_000
    for name in names:
        for text in (transcribe_pl(name), settlement_name(name, None, "en")):
            assert not CYRILLIC.search(text), (name, text)
            assert not re.search("['’ʼ]", text), (name, text)
