"""Applications for the dashboard, made by the bot's own services: each simulated person goes
through `questionnaire` one answer at a time (places picked from the reference data, phones
and e-mails parsed as typed ones are), submits or stops where an answer rules them out, or
leaves a draft; some book meetings (`booking.choose`, waiting lists included), staff mark who
came (`booking.mark_attendance`) and match interns to hosts (`matching.match`). Only the
timestamps are spread afterwards, over the weeks a call really takes, and the messages due by
then are marked sent, as the outbox sender (not running here) would have.

Used by the browser test (tests/browser) with a few dozen people and by bench/dashboard.py with
thousands. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.programme import Programme, Question
from bot.services import booking, events, matching, people, questionnaire
from bot.services.people import PRIVACY_NOTICE_VERSION
from db.models import Application, Gmina, Hromada, Outbox, Person, Powiat

FIRST_TELEGRAM_ID = 700_000_001
STAFF_TELEGRAM_ID = 690_000_001
MALOPOLSKIE = "małopolskie"

_PL_WOMEN = ("Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Barbara", "Jolanta", "Zofia", "Ewa")
_PL_MEN = ("Piotr", "Krzysztof", "Tomasz", "Paweł", "Marek", "Grzegorz", "Łukasz", "Jan")
_PL_LAST = ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski",
            "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur")
_UA_FIRST = ("Оксана", "Олена", "Наталія", "Ірина", "Тетяна", "Андрій", "Олександр", "Сергій",
             "Віталій", "Богдан", "Юлія", "Марія", "Дмитро", "Тарас", "Людмила")
_UA_LAST = ("Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Мельник",
            "Олійник", "Лисенко", "Петренко", "Савченко", "Руденко", "Мороз", "Павленко")
_PL_POSITIONS = ("Wójt", "Burmistrz", "Sekretarz gminy", "Kierownik referatu promocji",
                 "Zastępca burmistrza", "Skarbnik", "Inspektor ds. współpracy zagranicznej")
_UA_POSITIONS = ("Заступник голови громади", "Начальник відділу освіти", "Секретар ради",
                 "Начальник фінансового управління", "Староста", "Головний спеціаліст")
_UA_DEPARTMENTS = ("Відділ економічного розвитку", "Управління освіти", "Фінансовий відділ",
                   "Відділ ЦНАП", "Апарат ради", "Відділ житлово-комунального господарства")
_PERIODS = ("wrzesień–październik 2026", "październik 2026", "jesień 2026, 3 tygodnie",
            "вересень 2026", "жовтень–листопад 2026", "any time in autumn 2026")
_LONG = ("Współpracujemy z partnerskim miastem na Litwie, chcemy zacząć z Ukrainą.",
         "Хочу вивчити, як польські гміни залучають кошти ЄС на ремонт шкіл.",
         "Nasza gmina przyjęła 300 osób z Ukrainy; chcemy wymiany doświadczeń.",
         "Цікавить цифровізація адмінпослуг та участь мешканців у бюджеті.",
         "Looking for practice in water management and civil protection.")


@dataclass
class Seeded:
    """What the seed made, for a test to find its way and a benchmark to report."""

    staff_telegram_id: int
    applications: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_audience: Counter[str] = field(default_factory=Counter)
    by_region: Counter[str] = field(default_factory=Counter)
    bookings: int = 0
    attended: int = 0
    matches: int = 0
    # Eligible hosts in małopolskie (all; those not matched to anyone) and eligible unmatched
    # interns: application ids.
    malopolskie_hosts: list[int] = field(default_factory=list)
    free_malopolskie_hosts: list[int] = field(default_factory=list)
    free_interns: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "applications": self.applications,
            "by_status": dict(sorted(self.by_status.items())),
            "by_audience": dict(sorted(self.by_audience.items())),
            "regions": len(self.by_region),
            "bookings": self.bookings,
            "attended": self.attended,
            "matches": self.matches,
        }


class _Places:
    """Codes to pick from, read once from the reference tables."""

    def __init__(self) -> None:
        self.gminas: list[tuple[str, str, int | None]] = []
        self.powiats: list[str] = []
        self.hromadas: list[str] = []

    async def load(self, session: AsyncSession, programme: Programme) -> None:
        self.gminas = [
            (row.teryt, row.voivodeship, row.population)
            for row in (await session.execute(
                select(Gmina.teryt, Gmina.voivodeship, Gmina.population).order_by(Gmina.teryt)
            )).all()
        ]
        self.powiats = list(await session.scalars(select(Powiat.teryt).order_by(Powiat.teryt)))
        occupied = tuple(programme.occupied.katottg)
        self.hromadas = [
            code
            for code in await session.scalars(
                select(Hromada.katottg).where(Hromada.category == "hromada")
                .order_by(Hromada.katottg)
            )
            if not code.startswith(occupied)
        ]
        if not (self.gminas and self.powiats and self.hromadas):
            raise RuntimeError("no reference data: run migrations and load-reference first")

    def small_gmina_in(self, rng: random.Random, voivodeship: str, limit: int) -> str:
        codes = [teryt for teryt, region, population in self.gminas
                 if region == voivodeship and population is not None and population <= limit]
        return rng.choice(codes)


@dataclass
class _Person:
    """One simulated applicant's choices."""

    number: int
    audience: str
    language: str
    finish: str  # "submit", or "draft" (leaves after `stop_after` answers)
    stop_after: int
    pinned_gmina: str | None = None  # an eligible host in małopolskie the test can rely on


def _name(rng: random.Random, ukrainian: bool) -> str:
    if ukrainian:
        return f"{rng.choice(_UA_FIRST)} {rng.choice(_UA_LAST)}"
    last = rng.choice(_PL_LAST)
    if rng.random() < 0.5:
        return f"{rng.choice(_PL_MEN)} {last}"
    return f"{rng.choice(_PL_WOMEN)} {last[:-1] + 'a' if last.endswith('i') else last}"


def _typed(question: Question, who: _Person, rng: random.Random) -> str:
    ukrainian = who.audience == "intern"
    qid, kind = question.id, question.kind
    if kind == "email":
        return f"kontakt{who.number}@{'hromada' if ukrainian else 'gmina'}{who.number % 97}.example"
    if kind == "phone":
        if ukrainian:
            return f"+380 67 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
        return f"+48 {rng.choice((50, 51, 60, 66, 69, 72, 79))}{rng.randrange(1, 9)} " \
               f"{rng.randrange(100, 999)} {rng.randrange(100, 999)}"
    if kind == "integer":
        return str(rng.randrange(max(question.min_value or 1, 900), 60_000))
    if qid.endswith("name") or qid == "full_name":
        return _name(rng, ukrainian)
    if qid.endswith("position"):
        return rng.choice(_UA_POSITIONS if ukrainian else _PL_POSITIONS)
    if qid == "department":
        return rng.choice(_UA_DEPARTMENTS)
    if qid == "internship_period":
        return rng.choice(_PERIODS)
    return rng.choice(_LONG)


def _choice(question: Question, who: _Person, rng: random.Random) -> str:
    ids = [choice.id for choice in question.choices]
    if question.id == "lg_type":
        return "gmina" if who.pinned_gmina or rng.random() < 0.85 else "powiat"
    if question.id == "management_level":  # about one in five is not a manager
        return rng.choices(ids, weights=[35, 45, 12, 8][: len(ids)] + [1] * (len(ids) - 4))[0]
    return rng.choice(ids)


def _yes(question: Question, who: _Person, rng: random.Random) -> str:
    if question.id == "partnership_openness":
        return "yes" if who.pinned_gmina or rng.random() < 0.9 else "no"
    return "yes" if rng.random() < 0.5 else "no"


async def _fill(
    session: AsyncSession,
    programme: Programme,
    places: _Places,
    who: _Person,
    rng: random.Random,
    now: datetime,
) -> Application:
    person = await people.on_contact(session, FIRST_TELEGRAM_ID + who.number)
    people.set_language(person, who.language)
    people.record_consent(person, PRIVACY_NOTICE_VERSION)
    application = await questionnaire.begin(session, person, programme, who.audience)
    step = questionnaire.current_step(programme, application)
    answered = 0
    while step.question is not None:
        if who.finish == "draft" and answered >= who.stop_after:
            return application
        question = step.question
        qid, kind = question.id, question.kind
        if kind in ("gmina", "powiat", "hromada"):
            if kind == "gmina":
                code = who.pinned_gmina or rng.choice(places.gminas)[0]
            elif kind == "powiat":
                code = rng.choice(places.powiats)
            else:
                code = rng.choice(places.hromadas)
            step = await questionnaire.pick_place(session, programme, application, qid, code, now)
        elif kind == "single_choice":
            choice = _choice(question, who, rng)
            step = questionnaire.answer_choice(programme, application, qid, choice, now)
        elif kind == "yes_no":
            step = questionnaire.answer_choice(
                programme, application, qid, _yes(question, who, rng), now
            )
        elif kind == "multiple_choice":
            top = min(question.max_choices or len(question.choices), 3)
            picked = rng.sample([c.id for c in question.choices], rng.randint(1, top))
            for choice in picked:
                questionnaire.toggle_choice(programme, application, qid, choice, now)
            step = questionnaire.confirm_choices(programme, application, qid, now)
        elif not question.required and rng.random() < 0.6:
            step = questionnaire.skip(programme, application, qid, now)
        else:
            raw = _typed(question, who, rng)
            step = questionnaire.answer_typed(programme, application, raw, who.language, now)
        answered += 1
        if step.ruled_out:  # the person stops there, as most do: kept as ineligible
            questionnaire.stop(programme, application, qid, now)
            return application
    questionnaire.submit(programme, application, now)
    return application


def _region(application: Application) -> str:
    answers = application.answers
    for key, region in (("gmina", "voivodeship"), ("powiat", "voivodeship"),
                        ("hromada", "oblast")):
        place = answers.get(key)
        if isinstance(place, dict):
            return str(place.get(region) or "")
    return ""


async def seed(
    sessionmaker: async_sessionmaker[AsyncSession],
    programme: Programme,
    *,
    applications: int,
    now: datetime,
    seed: int = 19,
    pinned_malopolskie: int = 3,
    chunk: int = 100,
) -> Seeded:
    """`applications` people (about 45% hosts, 55% interns; one in eight leaves a draft), one
    staff member (Polish), two information meetings (one past, with attendance marked; one
    ahead with few seats and a waiting list) and matches for a third of the eligible interns.
    The first `pinned_malopolskie` hosts are small gminas in małopolskie that answer to be
    eligible. `now` must fall while the programme takes applications."""
    rng = random.Random(seed)
    result = Seeded(staff_telegram_id=STAFF_TELEGRAM_ID)
    places = _Places()
    limit = int(programme.limits.get("max_inhabitants", 120_000))
    async with sessionmaker() as session, session.begin():
        await places.load(session, programme)
        staff = await people.set_role(session, STAFF_TELEGRAM_ID, "staff")
        people.set_language(staff, "pl")
        people.record_consent(staff, PRIVACY_NOTICE_VERSION)

    crowd: list[_Person] = []
    for number in range(applications):
        pinned = number < pinned_malopolskie
        audience = "municipality" if pinned or rng.random() < 0.45 else "intern"
        language = ("uk" if rng.random() < 0.9 else "en") if audience == "intern" else (
            "pl" if rng.random() < 0.95 else "en")
        draft = not pinned and rng.random() < 0.125
        crowd.append(_Person(
            number=number,
            audience=audience,
            language=language,
            finish="draft" if draft else "submit",
            stop_after=rng.randrange(1, 12),
            pinned_gmina=places.small_gmina_in(rng, MALOPOLSKIE, limit) if pinned else None,
        ))

    made: list[tuple[int, str, str, str]] = []  # id, audience, status, region
    for start in range(0, len(crowd), chunk):
        async with sessionmaker() as session, session.begin():
            batch = [await _fill(session, programme, places, who, rng, now)
                     for who in crowd[start:start + chunk]]
            await questionnaire.store(session)
            made.extend((a.id, a.audience, a.status, _region(a)) for a in batch)

    # Submissions spread over the three weeks before `now`, drafts begun in the same weeks.
    async with sessionmaker() as session, session.begin():
        for application_id, _audience, status, _region_name in made:
            begun = now - timedelta(days=21) + timedelta(minutes=rng.randrange(0, 20 * 24 * 60))
            values: dict[str, Any] = {"created_at": begun, "updated_at": begun}
            if status != "draft":
                values["submitted_at"] = begun + timedelta(minutes=rng.randrange(5, 24 * 60))
                values["updated_at"] = values["submitted_at"]
            await session.execute(
                update(Application).where(Application.id == application_id).values(**values)
            )

    eligible_hosts = [i for i, audience, status, _ in made
                      if audience == "municipality" and status == "eligible"]
    eligible_interns = [i for i, audience, status, _ in made
                        if audience == "intern" and status == "eligible"]
    await _meetings(sessionmaker, programme, rng, now, result, eligible_hosts, eligible_interns)
    matched_hosts: set[int] = set()
    async with sessionmaker() as session, session.begin():
        staff = await people.on_contact(session, STAFF_TELEGRAM_ID)
        pinned_ids = {made[n][0] for n in range(min(pinned_malopolskie, len(made)))}
        hosts = [h for h in eligible_hosts if h not in pinned_ids] or eligible_hosts
        for intern_id in eligible_interns[: len(eligible_interns) // 3]:
            host_id = rng.choice(hosts)
            await matching.match(session, intern_id, host_id, now, actor=staff)
            matched_hosts.add(host_id)
            result.matches += 1
        result.free_interns = eligible_interns[len(eligible_interns) // 3:]

    # What the outbox sender would have sent by `now` (no sender runs here): sent when due.
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Outbox).where(Outbox.status == "pending", Outbox.due_at <= now)
            .values(status="sent", sent_at=Outbox.due_at, attempts=1,
                    telegram_message_id=Outbox.id)
        )

    for application_id, audience, status, region in made:
        result.applications += 1
        result.by_status[status] += 1
        result.by_audience[audience] += 1
        if region:
            result.by_region[region] += 1
        if audience == "municipality" and status == "eligible" and region == MALOPOLSKIE:
            result.malopolskie_hosts.append(application_id)
            if application_id not in matched_hosts:
                result.free_malopolskie_hosts.append(application_id)
    return result


async def _meetings(
    sessionmaker: async_sessionmaker[AsyncSession],
    programme: Programme,
    rng: random.Random,
    now: datetime,
    result: Seeded,
    hosts: list[int],
    interns: list[int],
) -> None:
    """A meeting for hosts that took place yesterday (half the eligible hosts booked it, staff
    marked most of them), and one for interns next week with seats for a fifth of them: the
    rest wait in its queue."""
    planned = now - timedelta(days=10)
    async with sessionmaker() as session, session.begin():
        staff = await people.on_contact(session, STAFF_TELEGRAM_ID)
        past = await events.create(session, programme, events.EventDraft(
            kind="info_meeting", audience="municipality",
            title={"pl": "Spotkanie informacyjne dla samorządów",
                   "uk": "Інформаційна зустріч для органів самоврядування",
                   "en": "Information meeting for local governments"},
            starts_at=now - timedelta(days=1), duration_minutes=90, capacity=None,
            join_link="https://meet.example.org/win4ua-info",
        ), planned, actor=staff)
        seats = max(2, len(interns) // 5)
        ahead = await events.create(session, programme, events.EventDraft(
            kind="info_meeting", audience="intern",
            title={"pl": "Spotkanie dla stażystów", "uk": "Зустріч для стажистів",
                   "en": "Meeting for interns"},
            starts_at=now + timedelta(days=7), duration_minutes=60, capacity=seats,
            join_link="https://meet.example.org/win4ua-interns",
        ), now - timedelta(days=2), actor=staff)
        result.events = [past.id, ahead.id]
        applicants = await _people_of(session, [*hosts, *interns])
        booked: list[int] = []
        for host_id in hosts[: len(hosts) // 2]:
            seat = await booking.choose(session, programme, applicants[host_id], past.id, planned)
            booked.append(seat.booking.id)
            result.bookings += 1
        for intern_id in interns[: len(interns) // 2]:
            person = applicants[intern_id]
            try:
                await booking.choose(session, programme, person, ahead.id, now - timedelta(days=1))
            except booking.BookingError as full:
                if full.code != "full":
                    raise
                await booking.join_waitlist(
                    session, programme, person, ahead.id, now - timedelta(days=1)
                )
            result.bookings += 1
        for booking_id in booked:
            if rng.random() < 0.8:
                mark = "attended" if rng.random() < 0.85 else "no_show"
                await booking.mark_attendance(session, booking_id, mark, now, actor=staff)
                result.attended += mark == "attended"


async def _people_of(session: AsyncSession, application_ids: list[int]) -> dict[int, Person]:
    rows = (await session.execute(
        select(Application.id, Person).join(Person, Person.id == Application.person_id)
        .where(Application.id.in_(application_ids))
    )).all()
    return {application_id: person for application_id, person in rows}
