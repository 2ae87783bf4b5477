"""Exports: the workbook's sheets and headers, codes as text, Warsaw dates, no formulas."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot.i18n import create_i18n
from bot.programme import PROGRAMMES_DIR, load_programme
from bot.services import export
from db.models import Application, Booking, Event, Person

PROGRAMME = load_programme(PROGRAMMES_DIR / "demo.toml")
SUBMITTED = datetime(2026, 6, 30, 21, 59, tzinfo=UTC)  # 23:59 in Warsaw (CEST)
BLOCKED = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)  # 13:00 in Warsaw (CET)
WARSAW = ZoneInfo("Europe/Warsaw")
# Spreadsheets have no time zones: cells hold Warsaw wall-clock time.
SUBMITTED_LOCAL = SUBMITTED.astimezone(WARSAW).replace(tzinfo=None)
BLOCKED_LOCAL = BLOCKED.astimezone(WARSAW).replace(tzinfo=None)
GMINA = {
    "teryt": "0201011",
    "name": "Bolesławiec",
    "kind": "gmina miejska",
    "powiat": "bolesławiecki",
    "voivodeship": "dolnośląskie",
    "population": 37055,
    "population_year": 2023,
}
HROMADA = {
    "katottg": "UA05020010000053508",
    "name_uk": "Агрономічна",
    "name_latin": "Ahronomichna",
    "oblast": "Вінницька область",
    "raion": "Вінницький район",
    "category": "hromada",
}
ATTACKS = ['=HYPERLINK("http://evil")', "+48 600 100 200", "-2+3", "@SUM(A1)", "\tcmd"]
PHONE = "+48600100200"  # as the phone question stores it (E.164)


@pytest.fixture
async def data(session):
    async with session.begin():
        host = Person(telegram_id=111, language="pl", role="user", blocked_at=BLOCKED)
        intern = Person(telegram_id=222, language="uk", role="user")
        session.add_all([host, intern])
        await session.flush()
        host_answers = {
            "lg_type": "gmina",
            "gmina": GMINA,
            "contact_name": ATTACKS[0],
            "contact_position": ATTACKS[2],
            "email": "anna@boleslawiec.pl",
            "phone": PHONE,
            "mentor_name": ATTACKS[1],
            "partnership_openness": True,
            "mentor_languages": ["pl", "en"],
            "comments": ATTACKS[3],
            "_edit_from": "internal",
        }
        session.add(
            Application(
                person_id=host.id,
                programme_id=PROGRAMME.id,
                audience="municipality",
                status="eligible",
                answers=host_answers,
                submitted_at=SUBMITTED,
                created_at=SUBMITTED,
            )
        )
        session.add(
            Application(
                person_id=intern.id,
                programme_id=PROGRAMME.id,
                audience="intern",
                status="draft",
                answers={"full_name": ATTACKS[4], "hromada": HROMADA},
            )
        )
        event = Event(
            programme_id=PROGRAMME.id,
            kind="info_meeting",
            audience="municipality",
            title={"pl": "Spotkanie", "en": "Meeting"},
            starts_at=SUBMITTED,
            capacity=10,
            seats_taken=1,
        )
        session.add(event)
        await session.flush()
        session.add(
            Booking(
                event_id=event.id,
                person_id=host.id,
                programme_id=PROGRAMME.id,
                created_at=SUBMITTED,
            )
        )
    return host, intern


async def sheets(session, language="en"):
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale(language):
        return await export.sheets(session, PROGRAMME, language)


def column(sheet, header):
    return sheet.header.index(header)


async def test_sheets_headers_and_values(session, data):
    municipality, intern, events, bookings = await sheets(session)
    assert [s.name for s in (events, bookings)] == ["Events", "Bookings"]
    [host_row] = municipality.rows
    assert host_row[column(municipality, "Gmina: TERYT")] == "0201011"
    assert host_row[column(municipality, "Gmina: population")] == 37055
    assert host_row[column(municipality, "E-mail")] == "anna@boleslawiec.pl"
    assert host_row[column(municipality, "Mentor's languages")] == "Polish; English"
    assert host_row[column(municipality, "Openness to partnership")] == "Yes"
    assert host_row[column(municipality, "Submitted")] == SUBMITTED_LOCAL
    assert (SUBMITTED_LOCAL.hour, SUBMITTED_LOCAL.minute) == (23, 59)
    assert host_row[column(municipality, "Unreachable since")] == BLOCKED_LOCAL
    assert BLOCKED_LOCAL.hour == 13
    assert "internal" not in host_row  # answers starting with "_" are the bot's own
    [intern_row] = intern.rows
    assert intern_row[column(intern, "Hromada: KATOTTG")] == "UA05020010000053508"
    assert intern_row[column(intern, "Hromada: oblast")] == "Вінницька область"
    # Named in full in the staff member's language (KMU for English).
    assert intern_row[column(intern, "Hromada: name")] == (
        "Ahronomichna, Vinnytskyi raion, Vinnytska oblast"
    )
    assert events.rows[0][column(events, "Free seats")] == 9
    assert bookings.rows[0][column(bookings, "Place")] == "Bolesławiec"


async def test_headers_follow_the_staff_language(session, data):
    municipality, *_ = await sheets(session, "pl")
    assert "Gmina: TERYT" in municipality.header and "Osoba do kontaktu" in municipality.header


async def test_hromada_in_polish_for_polish_staff(session, data):
    _municipality, intern, *_ = await sheets(session, "pl")
    [intern_row] = intern.rows
    assert intern_row[column(intern, "Hromada: nazwa")] == (
        "hromada Ahronomiczna, rejon Winnica, obwód winnicki"
    )


async def test_xlsx_keeps_codes_as_text_and_runs_no_formula(session, data):
    workbook = openpyxl.load_workbook(io.BytesIO(export.to_xlsx(await sheets(session))))
    hosts = workbook.worksheets[0]
    header = [cell.value for cell in hosts[1]]
    row = hosts[2]
    teryt = row[header.index("Gmina: TERYT")]
    assert teryt.value == "0201011" and teryt.data_type == "s" and teryt.number_format == "@"
    submitted = row[header.index("Submitted")]
    assert submitted.value == SUBMITTED_LOCAL and "yy" in submitted.number_format
    cells = [cell for line in workbook.worksheets[0].iter_rows() for cell in line]
    cells += [cell for line in workbook.worksheets[1].iter_rows() for cell in line]
    assert not [c.coordinate for c in cells if c.data_type == "f"]  # no formula anywhere
    texts = {c.value for c in cells if isinstance(c.value, str)}
    for attack in ATTACKS:
        assert "'" + attack in texts and attack not in texts


async def test_csv_zip_one_file_per_sheet_neutralised(session, data):
    archive = zipfile.ZipFile(io.BytesIO(export.to_csv_zip(await sheets(session))))
    names = archive.namelist()
    assert "Events.csv" in names and "Bookings.csv" in names and len(names) == 4
    content = archive.read(names[0]).decode("utf-8")
    assert content.startswith("\ufeff")
    header, row = list(csv.reader(io.StringIO(content.lstrip("\ufeff"))))
    assert row[header.index("Gmina: TERYT")] == "0201011"
    assert row[header.index("Submitted")] == "2026-06-30 23:59"
    assert row[header.index("Contact person")] == "'" + ATTACKS[0]
    assert row[header.index("Mentor")] == "'" + ATTACKS[1]
    assert row[header.index("Phone")] == PHONE  # plain, no apostrophe
    for value in row:
        assert value == PHONE or not value.startswith(("=", "+", "-", "@", "\t"))


async def test_build_names_and_counts(session, data):
    i18n = create_i18n()
    with i18n.context(), i18n.use_locale("en"):
        name, content, rows = await export.build(session, PROGRAMME, "en", "xlsx")
        assert name == f"{PROGRAMME.id}-export.xlsx" and content[:2] == b"PK" and rows == 4
        name, content, _ = await export.build(session, PROGRAMME, "en", "csv")
    assert name.endswith(".zip") and zipfile.is_zipfile(io.BytesIO(content))


async def test_phone_is_a_text_cell_without_an_apostrophe(session, data):
    workbook = openpyxl.load_workbook(io.BytesIO(export.to_xlsx(await sheets(session))))
    hosts = workbook.worksheets[0]
    header = [cell.value for cell in hosts[1]]
    phone = hosts[2][header.index("Phone")]
    assert phone.value == PHONE and phone.data_type == "s" and phone.number_format == "@"


async def test_words_and_sheet_names_in_the_staff_language(session, data):
    municipality, intern, events, bookings = await sheets(session, "pl")
    assert [s.name for s in (municipality, intern, events, bookings)] == [
        "Samorządy",
        "Stażyści z Ukrainy",
        "Wydarzenia",
        "Zapisy",
    ]
    assert municipality.rows[0][column(municipality, "Status")] == "spełnia kryteria"
    assert municipality.rows[0][column(municipality, "Język")] == "Polski"
    assert intern.rows[0][column(intern, "Status")] == "rozpoczęte"
    event = events.rows[0]
    assert event[column(events, "Rodzaj")] == "spotkanie informacyjne"
    assert event[column(events, "Grupa")] == "samorządy goszczące"
    assert event[column(events, "Status")] == "zaplanowane"
    assert bookings.rows[0][column(bookings, "Status")] == "zapisano"
    workbook = openpyxl.load_workbook(
        io.BytesIO(export.to_xlsx([municipality, intern, events, bookings]))
    )
    assert workbook.sheetnames == ["Samorządy", "Stażyści z Ukrainy", "Wydarzenia", "Zapisy"]


def test_reasons_are_rendered_by_their_questions_kind() -> None:
    """A stored reason reads as the person read it: a yes/no value is "Nie", a limit a number."""
    spec = PROGRAMME.audience("municipality")
    stored = [
        {
            "texts": {"pl": "Otwartość: {value}.", "en": "Open: {value}."},
            "value": False,
            "limit": True,
            "field": "partnership_openness",
        },
        {
            "texts": {"pl": "<b>{value}</b> mieszkańców, limit {limit}."},
            "value": 1861599,
            "limit": 120000,
            "field": "gmina",
        },
    ]
    application = Application(eligibility_reasons=stored)
    text = export._reasons(spec, application, "pl")  # no update's context: as from the CLI
    assert text == "Otwartość: Nie.; 1\xa0861\xa0599 mieszkańców, limit 120\xa0000."
