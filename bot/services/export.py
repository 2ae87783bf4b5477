"""Exports for staff: an XLSX workbook (one sheet per audience, plus events and bookings) or CSV.

Headers, sheet names, statuses, kinds and audiences are in the staff member's language; places
are spread over columns (TERYT and KATOTTG codes kept as text, leading zeros and all); moments
are shown in Europe/Warsaw. A cell that starts with = + - @ or a tab is neutralised with a
leading apostrophe, so a spreadsheet never runs what an applicant typed as a formula; a phone
number (+48600100200, as the bot stores it) is kept as it is, in a text cell.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import place_names, reasons
from bot.i18n import LANGUAGE_NAMES, _, __, ngettext
from bot.programme import AudienceSpec, Programme, Question
from db.models import Application, Booking, Event, Person

if TYPE_CHECKING:  # openpyxl is imported by the export itself: ~5 MB the bot needs only then
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

ZONE = ZoneInfo("Europe/Warsaw")
DATE_FORMAT = "yyyy-mm-dd hh:mm"
FORMATS = ("xlsx", "csv")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_PLACE_FIELDS = {
    "gmina": ("name", "teryt", "kind", "powiat", "voivodeship", "population", "population_year"),
    "powiat": ("name", "teryt", "kind", "voivodeship", "population", "population_year"),
    # "name" of a hromada: named in full in the staff member's language (bot.place_names).
    "hromada": ("name", "name_uk", "name_latin", "katottg", "oblast", "raion", "category"),
}
_CODES = frozenset({"teryt", "katottg"})
# What the phone question stores (E.164): digits after a plus, nothing a spreadsheet could run.
_PHONE_RE = re.compile(r"^\+[1-9][0-9]{5,14}$")

# The words staff read instead of the database's codes (the same msgids as /stats and /events).
SHEET_NAMES = {"municipality": __("Host local governments"), "intern": __("Interns from Ukraine")}
APPLICATION_STATUSES = {
    "draft": __("started"),
    "submitted": __("submitted"),
    "eligible": __("eligible"),
    "ineligible": __("not eligible"),
    "withdrawn": __("withdrawn"),
}
EVENT_KINDS = {
    "info_meeting": __("information meeting"),
    "internship": __("internship"),
    "study_visit": __("study visit"),
    "other": __("other event"),
}
EVENT_AUDIENCES = {
    "municipality": __("host local governments"),
    "intern": __("interns"),
    "all": __("everyone"),
}
EVENT_STATUSES = {"scheduled": __("scheduled"), "cancelled": __("cancelled")}
BOOKING_STATUSES = {
    "active": __("booked"),
    "waitlisted": __("on the waitlist"),
    "offered": __("seat offered"),
    "cancelled": __("booking cancelled"),
    "expired": __("offer expired"),
}
ATTENDANCE = {"attended": __("attended"), "no_show": __("did not attend")}


def _word(names: dict[str, Any], code: str | None) -> str | None:
    """The translated word for a stored code; an unknown code is shown as it is."""
    if code is None:
        return None
    return str(names[code]) if code in names else code


def neutralise(value: Any) -> Any:
    """Text a spreadsheet could read as a formula gets a leading apostrophe; a phone number
    (a plus and digits, nothing that can run) is left as staff will dial it."""
    if isinstance(value, str) and value.startswith(_DANGEROUS) and not _PHONE_RE.match(value):
        return "'" + value
    return value


def local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(ZONE).replace(tzinfo=None) if moment else None


@dataclass
class Sheet:
    name: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    text_columns: set[int] = field(default_factory=set)


def _field_names() -> dict[str, str]:
    return {
        "name": _("name"),
        "name_uk": _("name (Ukrainian)"),
        "name_latin": _("name (Latin)"),
        "teryt": "TERYT",
        "katottg": "KATOTTG",
        "kind": _("kind"),
        "powiat": _("powiat"),
        "voivodeship": _("voivodeship"),
        "oblast": _("oblast"),
        "raion": _("raion"),
        "population": _("population"),
        "population_year": _("population year"),
        "category": _("category"),
    }


def _answer(question: Question, value: Any, language: str) -> Any:
    if value is None:
        return None
    if question.kind == "yes_no":
        return _("Yes") if value else _("No")
    if question.kind == "single_choice":
        choice = question.choice(str(value))
        return choice.label.get(language) if choice else str(value)
    if question.kind == "multiple_choice":
        return "; ".join(c.label.get(language) for c in question.choices if c.id in value)
    return value


def _reasons(spec: AudienceSpec, application: Application, language: str) -> str:
    """The reasons as the person read them (bot.reasons), plain text for a spreadsheet."""
    stored = reasons.stored_reasons(application.eligibility_reasons)
    return "; ".join(reasons.render_reason(spec, r, language, markup=False) for r in stored)


async def _audience_sheet(
    session: AsyncSession, programme: Programme, audience: str, language: str
) -> Sheet:
    spec = programme.audience(audience)
    names = _field_names()
    sheet_name = SHEET_NAMES.get(audience)
    sheet = Sheet(
        str(sheet_name) if sheet_name is not None else spec.name.get(language)[:31],
        [
            _("Application"),
            _("Telegram ID"),
            _("Language"),
            _("Status"),
            _("Started"),
            _("Submitted"),
            _("Check the population"),
            _("Reasons"),
            _("Unreachable since"),
        ],
    )
    columns: list[tuple[Question, str | None]] = []
    for question in spec.questions:
        label = (question.label or question.text).get(language)
        fields = _PLACE_FIELDS.get(question.kind)
        if fields is None:
            if question.kind == "phone":
                sheet.text_columns.add(len(sheet.header))
            columns.append((question, None))
            sheet.header.append(label)
            continue
        for name in fields:
            if name in _CODES:
                sheet.text_columns.add(len(sheet.header))
            columns.append((question, name))
            sheet.header.append(f"{label}: {names[name]}")
    result = await session.execute(
        select(Application, Person)
        .join(Person, Person.id == Application.person_id)
        .where(Application.programme_id == programme.id, Application.audience == audience)
        .order_by(Application.id)
    )
    for application, person in result.all():
        answers = application.answers or {}
        row: list[Any] = [
            application.id,
            person.telegram_id,
            LANGUAGE_NAMES.get(person.language or "", person.language),
            _word(APPLICATION_STATUSES, application.status),
            local(application.created_at),
            local(application.submitted_at),
            _("Yes") if application.needs_review else None,
            _reasons(spec, application, language),
            local(person.blocked_at),
        ]
        for question, part in columns:
            value = answers.get(question.id)
            if part is None:
                row.append(_answer(question, value, language))
            elif isinstance(value, dict) and part == "name" and "katottg" in value:
                row.append(place_names.describe(value, language))
            else:
                row.append(value.get(part) if isinstance(value, dict) else None)
        sheet.rows.append(row)
    return sheet


def _title(event: Event, language: str) -> str:
    titles = event.title or {}
    return titles.get(language) or titles.get("en") or next(iter(titles.values()), "")


async def _events_sheet(session: AsyncSession, programme: Programme, language: str) -> Sheet:
    sheet = Sheet(
        _("Events"),
        [
            _("Event"),
            _("Kind"),
            _("Audience"),
            _("Title"),
            _("Starts"),
            _("Minutes"),
            _("Capacity"),
            _("Seats taken"),
            _("Free seats"),
            _("Status"),
            _("Join link"),
            _("Place"),
        ],
    )
    events = await session.scalars(
        select(Event).where(Event.programme_id == programme.id).order_by(Event.starts_at)
    )
    for e in events:
        free = None if e.capacity is None else e.capacity - e.seats_taken
        sheet.rows.append(
            [
                e.id,
                _word(EVENT_KINDS, e.kind),
                _word(EVENT_AUDIENCES, e.audience),
                _title(e, language),
                local(e.starts_at),
                e.duration_minutes,
                e.capacity,
                e.seats_taken,
                free,
                _word(EVENT_STATUSES, e.status),
                e.join_link,
                e.place,
            ]
        )
    return sheet


def _place_name(application: Application | None, language: str) -> str | None:
    answers = application.answers if application else {}
    place = answers.get("gmina") or answers.get("powiat") or answers.get("hromada") or {}
    return place_names.place_title(place, language) if place else None


async def _bookings_sheet(session: AsyncSession, programme: Programme, language: str) -> Sheet:
    sheet = Sheet(
        _("Bookings"),
        [
            _("Booking"),
            _("Event"),
            _("Title"),
            _("Starts"),
            _("Telegram ID"),
            _("Application"),
            _("Place"),
            _("Status"),
            _("Booked"),
            _("Attendance"),
            _("Unreachable since"),
        ],
    )
    result = await session.execute(
        select(Booking, Event, Person, Application)
        .join(Event, Event.id == Booking.event_id)
        .join(Person, Person.id == Booking.person_id)
        .join(
            Application,
            (Application.person_id == Person.id) & (Application.programme_id == programme.id),
            isouter=True,
        )
        .where(Booking.programme_id == programme.id)
        .order_by(Event.starts_at, Booking.id)
    )
    for booking, event, person, application in result.all():
        sheet.rows.append(
            [
                booking.id,
                event.id,
                _title(event, language),
                local(event.starts_at),
                person.telegram_id,
                application.id if application else None,
                _place_name(application, language),
                _word(BOOKING_STATUSES, booking.status),
                local(booking.created_at),
                _word(ATTENDANCE, booking.attendance),
                local(person.blocked_at),
            ]
        )
    return sheet


async def sheets(session: AsyncSession, programme: Programme, language: str) -> list[Sheet]:
    """Every sheet of the export, with headers in the current locale (`language` for labels)."""
    result = [
        await _audience_sheet(session, programme, audience, language)
        for audience in programme.audiences
    ]
    return [
        *result,
        await _events_sheet(session, programme, language),
        await _bookings_sheet(session, programme, language),
    ]


def _cell(sheet: WriteOnlyWorksheet, value: Any, *, as_text: bool = False) -> WriteOnlyCell:
    from openpyxl.cell import WriteOnlyCell

    if as_text and value is not None:
        value = str(value)
    cell = WriteOnlyCell(sheet, value=neutralise(value))
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the first character
    if as_text:
        cell.number_format = "@"
    elif isinstance(value, datetime):
        cell.number_format = DATE_FORMAT
    return cell


def to_xlsx(data: Iterable[Sheet]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for sheet in data:
        worksheet = workbook.create_sheet(_sheet_title(sheet.name))
        worksheet.append([_cell(worksheet, title) for title in sheet.header])
        for row in sheet.rows:
            worksheet.append(
                [_cell(worksheet, v, as_text=i in sheet.text_columns) for i, v in enumerate(row)]
            )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _sheet_title(name: str) -> str:
    return "".join("_" if c in "[]:*?/\\" else c for c in name)[:31] or "Sheet"


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return neutralise(value)


def csv_bytes(header: list[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """UTF-8 with a BOM, so Excel reads Polish and Ukrainian letters right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_csv_value(v) for v in header])
    writer.writerows([_csv_value(v) for v in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_csv_zip(data: Iterable[Sheet]) -> bytes:
    """One CSV per sheet in a ZIP archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for sheet in data:
            archive.writestr(f"{_sheet_title(sheet.name)}.csv", csv_bytes(sheet.header, sheet.rows))
    return buffer.getvalue()


@dataclass(frozen=True)
class StaffExport:
    name: str
    content: bytes
    rows: int
    caption: str


async def for_staff(
    session: AsyncSession, programme: Programme, person: Person, fmt: str
) -> StaffExport:
    """The export a staff member asked for (chat /export, or the dashboard's button), in their
    language, audited; the caller sends it to their chat once the transaction commits."""
    from bot.services import staff

    name, content, rows = await build(session, programme, person.language or "pl", fmt)
    caption = ngettext(
        "Export of {programme}: {rows} row. Keep it safe: it holds personal data.",
        "Export of {programme}: {rows} rows. Keep it safe: it holds personal data.",
        rows,
    ).format(programme=programme.id, rows=rows)
    staff.audit(session, person, "staff.export", target=fmt, count=rows)
    return StaffExport(name, content, rows, caption)


async def build(
    session: AsyncSession, programme: Programme, language: str, fmt: str
) -> tuple[str, bytes, int]:
    """(file name, content, number of data rows) of the export in `fmt`."""
    data = await sheets(session, programme, language)
    rows = sum(len(sheet.rows) for sheet in data)
    if fmt == "csv":
        return f"{programme.id}-export.zip", to_csv_zip(data), rows
    return f"{programme.id}-export.xlsx", to_xlsx(data), rows
