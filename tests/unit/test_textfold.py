"""Folding place names and queries to one search key (Polish diacritics, KMU-2010 Ukrainian)."""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from db.textfold import fold, romanise_uk

REFERENCE = Path(__file__).resolve().parents[2] / "db" / "reference"
KEY = re.compile(r"^(?:[a-z0-9]+(?: [a-z0-9]+)*)?$")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Łódź", "lodz"),
        ("Biała Podlaska", "biala podlaska"),
        ("ĄĆĘŁŃÓŚŹŻ ąćęłńóśźż", "acelnoszz acelnoszz"),
        ("Góra Świętej Małgorzaty", "gora swietej malgorzaty"),
        ("  Zielona   Góra!! ", "zielona gora"),
        ("Kędzierzyn-Koźle", "kedzierzyn kozle"),
        ("Nowe Miasto n/Pilicą", "nowe miasto n pilica"),
        ("Біла Церква", "bila tserkva"),
        ("Білоцерківська", "bilotserkivska"),
        ("bila tserkva", "bila tserkva"),
        ("BILA TSERKVA", "bila tserkva"),
        ("Кам’янець-Подільський", "kamianets podilskyi"),
        ("Знам'янка", "znamianka"),
        ("Знамʼянка", "znamianka"),
        ("Київ", "kyiv"),
        ("Белая Церковь", "belaia tserkov"),  # typed in Russian
        ("Подъезд", "podezd"),  # ъ only separates, like the apostrophe
        ("Ёлкино", "yolkyno"),  # Cyrillic is read as Ukrainian: и is y
        ("Ставрополье", "stavropole"),
        ("Ы", "y"),
        ("Ærøskøbing", "aeroskobing"),
        ("Straße", "strasse"),
        ("ﬁrst²", "first2"),
        ("%", ""),
        ("_", ""),
        ("", ""),
    ],
)
def test_fold(text: str, key: str) -> None:
    assert fold(text) == key


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    # Examples from the table in Cabinet Resolution No. 55 of 27.01.2010.
    [
        ("Алушта", "Alushta"),
        ("Борщагівка", "Borshchahivka"),
        ("Вишгород", "Vyshhorod"),
        ("Гадяч", "Hadiach"),
        ("Згорани", "Zghorany"),
        ("Ґалаґан", "Galagan"),
        ("Дон", "Don"),
        ("Рівне", "Rivne"),
        ("Єнакієве", "Yenakiieve"),
        ("Наєнко", "Naienko"),
        ("Житомир", "Zhytomyr"),
        ("Закарпаття", "Zakarpattia"),
        ("Медвин", "Medvyn"),
        ("Іршава", "Irshava"),
        ("Їжакевич", "Yizhakevych"),
        ("Кадиївка", "Kadyivka"),
        ("Йосипівка", "Yosypivka"),
        ("Стрий", "Stryi"),
        ("Олексій", "Oleksii"),
        ("Київ", "Kyiv"),
        ("Лебедин", "Lebedyn"),
        ("Миколаїв", "Mykolaiv"),
        ("Ніжин", "Nizhyn"),
        ("Одеса", "Odesa"),
        ("Полтава", "Poltava"),
        ("Ромни", "Romny"),
        ("Суми", "Sumy"),
        ("Тетерів", "Teteriv"),
        ("Ужгород", "Uzhhorod"),
        ("Фастів", "Fastiv"),
        ("Харків", "Kharkiv"),
        ("Біла Церква", "Bila Tserkva"),
        ("Чернівці", "Chernivtsi"),
        ("Шостка", "Shostka"),
        ("Гоща", "Hoshcha"),
        ("Русь", "Rus"),
        ("Юрій", "Yurii"),
        ("Крюківка", "Kriukivka"),
        ("Яготин", "Yahotyn"),
        ("Ічня", "Ichnia"),
        ("Знам’янка", "Znamianka"),
        ("Розгон", "Rozghon"),
    ],
)
def test_romanise_uk_follows_kmu_2010(cyrillic: str, latin: str) -> None:
    assert romanise_uk(cyrillic) == latin
    assert fold(cyrillic) == fold(latin) == latin.lower()


def test_romanise_uk_keeps_case_and_other_text() -> None:
    assert romanise_uk("ЩАСЛИВЕ") == "SHCHASLYVE"
    assert romanise_uk("Щасливе") == "Shchaslyve"
    assert romanise_uk("ЖИТОМИР і Яготин") == "ZHYTOMYR i Yahotyn"
    assert romanise_uk("Łódź, 2024") == "Łódź, 2024"
    assert romanise_uk("rock'n'roll") == "rock'n'roll"  # Latin apostrophes are not touched


def test_word_initial_forms_restart_after_a_hyphen_or_space() -> None:
    assert romanise_uk("Нова Ялта") == "Nova Yalta"
    assert romanise_uk("Кривий Ріг-Їжаки") == "Kryvyi Rih-Yizhaky"
    # …but not after an apostrophe, which sits inside the word.
    assert romanise_uk("П'ятихатки") == "Piatykhatky"


def test_decomposed_input_folds_like_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Йосипівка Їжакевич Łódź Świdnica")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    assert fold(decomposed) == "yosypivka yizhakevych lodz swidnica"


def _hromada_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for name in ("ua_hromadas.csv", "ua_hromadas_crimea_and_special_cities.csv"):
        with (REFERENCE / name).open(encoding="utf-8", newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def test_romanisation_agrees_with_every_latin_name_in_the_codifier_extract() -> None:
    """The CSV's Latin names were made with KMU-2010 too; every one must come out the same."""
    rows = _hromada_rows()
    assert len(rows) == 1_469 + 305
    mismatches = [
        (row["name_uk"], row["name_en_or_latin_if_available"])
        for row in rows
        if row["name_en_or_latin_if_available"].removesuffix(" hromada")
        != romanise_uk(row["name_uk"])
    ]
    assert mismatches == []


_PLACE_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 -'’ʼ.,()%_/"
    "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ"
    "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяАБВГҐДЕЄЖЗИІЇЙКЛМНОПРСТУФХЦЧШЩЬЮЯ"
    "ыэёъЫЭЁЪ\u0306\u0308\u0301"
)


@given(st.one_of(st.text(), st.text(alphabet=_PLACE_ALPHABET)))
def test_fold_is_idempotent_and_yields_only_key_characters(text: str) -> None:
    key = fold(text)
    assert KEY.match(key), key
    assert fold(key) == key


@given(st.text(alphabet=_PLACE_ALPHABET))
def test_fold_ignores_case(text: str) -> None:
    assert fold(text.upper()) == fold(text.lower()) == fold(text)
