"""Broadcasts: Telegram HTML, splitting, segments, expansion into the outbox, cancel, finish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.programme import PROGRAMMES_DIR, load_programme
from bot.services import broadcast, broadcast_text, outbox, segments
from bot.services.broadcast import BroadcastError, CountChanged
from bot.services.segments import Segment, UnknownSegment
from db.engine import create_sessionmaker
from db.models import Application, AuditLog, Booking, Broadcast, Event, Outbox, Person
from tests.fakes.telegram_server import EntityParseError, parse_html

NOW = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
PROGRAMME = load_programme(PROGRAMMES_DIR / "demo.toml")

# ---------------------------------------------------------------------- Telegram's HTML

VALID = [
    "Plain text & more",
    "<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <code>x</code> <pre>y</pre>",
    '<a href="https://solidarityfund.pl">link</a>',
    '<span class="tg-spoiler">secret</span> <tg-spoiler>also</tg-spoiler>',
    "<blockquote>quote</blockquote> &lt;tag&gt; &amp; &#128075;",
    "<b>nested <i>tags</i></b>",
]
INVALID = [
    "a < b",
    "<b>unclosed",
    "<b><i>crossed</b></i>",
    "<script>alert(1)</script>",
    "<a>no href</a>",
    "<span>plain span</span>",
    "closing </b> alone",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_html_is_accepted_like_telegram(text: str) -> None:
    assert broadcast_text.check_text(text) == text
    parse_html(text)  # the fake's copy of Telegram's parser agrees


@pytest.mark.parametrize("text", INVALID)
def test_invalid_html_is_refused_before_confirming(text: str) -> None:
    with pytest.raises(BroadcastError) as error:
        broadcast_text.check_text(text)
    assert error.value.code == "html"
    if text != "<a>no href</a>":  # Telegram drops such a link silently; we ask for the href
        with pytest.raises(EntityParseError):
            parse_html(text)


def test_empty_text_is_refused() -> None:
    with pytest.raises(BroadcastError, match="empty"):
        broadcast_text.check_text("  <b> </b> ")


def test_long_texts_split_on_paragraphs_never_inside_a_tag() -> None:
    paragraph = "<b>Ważne:</b> " + " ".join(["słowo"] * 150)  # about 910 characters
    text = "\n\n".join(f"{n}. {paragraph}" for n in range(12))
    parts = broadcast_text.split_text(text)
    assert len(parts) == 3
    for part in parts:
        visible, _ = parse_html(part)
        assert len(visible) <= 4096
    # Cut only between paragraphs: every paragraph is whole in exactly one part.
    assert "\n\n".join(parts) == text
    assert all(part.startswith(("0.", "4.", "8.")) for part in parts)


def test_a_huge_paragraph_is_cut_between_lines_then_words() -> None:
    words = " ".join(["słowo"] * 1500)  # 8,999 characters, no line breaks
    parts = broadcast_text.split_text(f"<i>Intro</i> {words}")
    assert len(parts) == 3 and all(len(parse_html(p)[0]) <= 4096 for p in parts)
    assert " ".join(parts).split() == f"<i>Intro</i> {words}".split()


def test_one_formatted_passage_too_long_to_split() -> None:
    with pytest.raises(BroadcastError, match="formatted_too_long"):
        broadcast_text.split_text("<b>" + "x" * 5000 + "</b>")


def test_what_a_recipient_gets_by_language_and_media() -> None:
    item = Broadcast(texts={"pl": "Dzień dobry", "uk": "Добрий день"}, fallback_language="pl")
    message = broadcast_text.Message
    assert broadcast_text.messages(item, "uk") == [message("Добрий день")]
    assert broadcast_text.messages(item, "en") == [message("Dzień dobry")]  # the fallback
    item.media = {"kind": "photo", "file_id": "AgAC1"}
    assert broadcast_text.messages(item, "pl") == [message("Dzień dobry", ("photo", "AgAC1"))]
    item.texts = {"pl": "x" * 2000}  # too long for a caption: the photo first, then the text
    assert [m.media for m in broadcast_text.messages(item, "pl")] == [("photo", "AgAC1"), None]


def test_schedule_times_are_warsaw_time() -> None:
    when = broadcast.parse_when("12.04.2026 10:00", "Europe/Warsaw", NOW)
    assert when == datetime(2026, 4, 12, 8, 0, tzinfo=UTC)  # CEST, UTC+2
    with pytest.raises(BroadcastError, match="in_past"):
        broadcast.parse_when("1.01.2026 10:00", "Europe/Warsaw", NOW)
    with pytest.raises(BroadcastError, match="bad_time"):
        broadcast.parse_when("jutro o 10", "Europe/Warsaw", NOW)
    with pytest.raises(BroadcastError, match="bad_time"):
        broadcast.parse_when("31.02.2026 10:00", "Europe/Warsaw", NOW)


# ---------------------------------------------------------------------- segments


def test_segments_are_checked() -> None:
    for kind, value in (("everyone", "x"), ("region", None), ("language", "de"), ("nope", None)):
        with pytest.raises(UnknownSegment):
            Segment(kind, value)


async def person(session, telegram_id, *, language="pl", consented=True, blocked=False):
    item = Person(
        telegram_id=telegram_id,
        language=language,
        role="user",
        consent_at=NOW if consented else None,
        blocked_at=NOW if blocked else None,
    )
    session.add(item)
    await session.flush()
    return item


async def apply(session, who, audience, status, place=None):
    answers = {}
    if place:
        answers = (
            {"gmina": {"teryt": "1218093", "name": place, "voivodeship": "małopolskie"}}
            if audience == "municipality"
            else {"hromada": {"katottg": "UA1", "name_uk": place, "oblast": "Київська область"}}
        )
    session.add(
        Application(
            person_id=who.id,
            programme_id=PROGRAMME.id,
            audience=audience,
            status=status,
            answers=answers,
        )
    )
    await session.flush()


@pytest.fixture
async def population(session):
    """Who is who: telegram id → person, with applications and bookings."""
    async with session.begin():
        people = {
            n: await person(session, n, language="uk" if n >= 20 else "pl")
            for n in (1, 2, 3, 4, 5, 20, 21)
        }
        people[6] = await person(session, 6, blocked=True)
        people[7] = await person(session, 7, consented=False)
        await apply(session, people[1], "municipality", "eligible", "Wadowice")
        await apply(session, people[2], "municipality", "eligible", "Wadowice")
        await apply(session, people[3], "municipality", "ineligible", "Kraków")
        await apply(session, people[4], "municipality", "draft")
        await apply(session, people[6], "municipality", "eligible", "Wadowice")
        await apply(session, people[7], "municipality", "eligible", "Wadowice")
        await apply(session, people[20], "intern", "eligible", "Бориспільська")
        await apply(session, people[21], "intern", "withdrawn", "Бориспільська")
        event = Event(
            programme_id=PROGRAMME.id,
            title={"pl": "Spotkanie"},
            starts_at=NOW,
            capacity=1,
            seats_taken=1,
        )
        session.add(event)
        await session.flush()
        session.add(Booking(event_id=event.id, person_id=people[1].id, programme_id=PROGRAMME.id))
        session.add(
            Booking(
                event_id=event.id,
                person_id=people[5].id,
                programme_id=PROGRAMME.id,
                status="waitlisted",
            )
        )
    return people, event


async def recipients(session, segment) -> set[int]:
    rows = await session.execute(segments.recipients(segment, PROGRAMME.id))
    return {telegram_id for _, telegram_id in rows}


async def test_each_segment_reaches_the_right_people(session, population):
    _, event = population
    expected = {
        Segment("everyone"): {1, 2, 3, 4, 5, 20, 21},  # not 6 (blocked) or 7 (no notice read)
        Segment("municipalities"): {1, 2, 3, 4},
        Segment("interns"): {20},  # 21 withdrew
        Segment("eligible"): {1, 2, 20},
        Segment("ineligible"): {3},
        Segment("started"): {4},
        Segment("event", str(event.id)): {1},
        Segment("eligible_not_booked"): {2, 20},
        Segment("waitlisted"): {5},
        Segment("region", "małopolskie"): {1, 2, 3},
        Segment("region", "Київська область"): {20},
        Segment("language", "uk"): {20, 21},
    }
    for segment, people in expected.items():
        assert await recipients(session, segment) == people, segment
        assert await segments.count(session, segment, PROGRAMME.id) == len(people)
    assert await segments.regions(session, PROGRAMME.id) == [
        ("małopolskie", 3),
        ("Київська область", 1),
    ]


# ---------------------------------------------------------------------- running a broadcast


async def scheduled(session, author, segment: Segment | None = None, at=NOW) -> Broadcast:
    async with session.begin():
        draft = await broadcast.create_draft(session, author, PROGRAMME.id)
        broadcast.choose_segment(draft, segment or Segment("everyone"))
        broadcast.add_text(draft, "pl", "<b>Dzień dobry</b>")
        count = await broadcast.recipient_count(session, draft)
        with pytest.raises(CountChanged):
            await broadcast.confirm(session, draft, author, expected=count + 1, at=at)
        assert await broadcast.confirm(session, draft, author, expected=count, at=at) == count
    return draft


async def test_starting_writes_one_row_per_recipient_once(session, engine, population):
    people, _ = population
    draft = await scheduled(session, people[1])
    sessionmaker = create_sessionmaker(engine)
    assert await broadcast.start_due(sessionmaker, NOW - timedelta(seconds=1), chunk=2) == []
    assert await broadcast.start_due(sessionmaker, NOW, chunk=2) == [draft.id]
    # A crash mid-way is simulated by forgetting the total: the next start adds nobody twice.
    async with sessionmaker() as other, other.begin():
        (await other.get(Broadcast, draft.id)).total = 0
    await broadcast.start_due(sessionmaker, NOW, chunk=3)
    async with sessionmaker() as other:
        rows = (await other.scalars(select(Outbox).where(Outbox.broadcast_id == draft.id))).all()
        item = await other.get(Broadcast, draft.id)
    assert item.status == "running" and item.total == 7 == len(rows)
    ids = {p.id: p.telegram_id for p in people.values()}
    keys = {f"broadcast:{draft.id}:{r.person_id}" for r in rows}
    assert {r.idempotency_key for r in rows} == keys
    assert {ids[r.person_id] for r in rows} == {1, 2, 3, 4, 5, 20, 21}
    assert {(r.priority, r.status, r.kind) for r in rows} == {
        (outbox.PRIORITY_BROADCAST, "pending", "broadcast")
    }
    assert all(r.payload == {} and r.chat_id == ids[r.person_id] for r in rows)


async def test_cancel_stops_what_is_not_sent_and_reports(session, engine, population):
    people, _ = population
    draft = await scheduled(session, people[1])
    sessionmaker = create_sessionmaker(engine)
    await broadcast.start_due(sessionmaker, NOW)
    async with sessionmaker() as other, other.begin():
        first = await other.scalar(select(Outbox).where(Outbox.broadcast_id == draft.id).limit(1))
        first.status = "sent"
    async with sessionmaker() as other, other.begin():
        author = await other.get(Person, people[1].id)
        assert await broadcast.cancel(other, draft.id, author, NOW) == 6
        with pytest.raises(BroadcastError, match="not_active"):
            await broadcast.cancel(other, draft.id, author, NOW)
    async with sessionmaker() as other:
        progress = await broadcast.progress(other, draft.id)
        audit = await other.scalar(select(AuditLog).where(AuditLog.action == "broadcast.cancel"))
        report = await other.scalar(select(Outbox).where(Outbox.kind == broadcast.REPORT_KIND))
    assert (progress.sent, progress.cancelled, progress.left) == (1, 6, 0)
    assert audit.count == 6 and audit.actor_id == people[1].id
    assert report.chat_id == 1 and report.payload == {"broadcast_id": draft.id}


async def test_a_settled_broadcast_is_done_and_reported_once(session, engine, population):
    people, _ = population
    draft = await scheduled(session, people[1], Segment("ineligible"))
    sessionmaker = create_sessionmaker(engine)
    await broadcast.start_due(sessionmaker, NOW)
    async with sessionmaker() as other, other.begin():
        item = await other.get(Broadcast, draft.id)
        assert not await broadcast.finish_if_done(other, item, NOW)  # one row still pending
        row = await other.scalar(select(Outbox).where(Outbox.broadcast_id == draft.id))
        row.status, row.last_error = "failed", "unreachable: Forbidden: bot was blocked by the user"
    for _ in range(2):
        async with sessionmaker() as other, other.begin():
            item = await other.get(Broadcast, draft.id)
            await broadcast.finish_if_done(other, item, NOW)
    async with sessionmaker() as other:
        item = await other.get(Broadcast, draft.id)
        progress = await broadcast.progress(other, draft.id)
        reports = await other.scalar(
            select(func.count()).where(Outbox.kind == broadcast.REPORT_KIND)
        )
        failures = await broadcast.failures(other, draft.id)
    assert item.status == "done" and item.finished_at is not None
    assert (progress.blocked, progress.failed) == (1, 0) and reports == 1
    assert failures == [(3, "pl", "unreachable: Forbidden: bot was blocked by the user", 0)]


async def test_nobody_to_send_to(session, population):
    people, _ = population
    async with session.begin():
        draft = await broadcast.create_draft(session, people[1], PROGRAMME.id)
        broadcast.choose_segment(draft, Segment("language", "en"))
        broadcast.add_text(draft, "en", "Hello")
        with pytest.raises(BroadcastError, match="nobody"):
            await broadcast.confirm(session, draft, people[1], expected=0, at=NOW)
