"""Typed SQLAlchemy models. Reference tables first, then people and what they do."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow


class Gmina(Base):
    """A Polish gmina from the TERC register with its GUS population."""

    __tablename__ = "gmina"

    teryt: Mapped[str] = mapped_column(String(7), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    powiat: Mapped[str] = mapped_column(String(100))
    voivodeship: Mapped[str] = mapped_column(String(40))
    population: Mapped[int | None] = mapped_column(Integer)
    population_year: Mapped[int | None] = mapped_column(Integer)
    population_note: Mapped[str | None] = mapped_column(Text)


class Powiat(Base):
    """A Polish powiat (or a city with powiat rights), for powiats applying as hosts."""

    __tablename__ = "powiat"

    teryt: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    voivodeship: Mapped[str] = mapped_column(String(40))
    population: Mapped[int | None] = mapped_column(Integer)
    population_year: Mapped[int | None] = mapped_column(Integer)


class Hromada(Base):
    """A Ukrainian territorial community from the KATOTTG codifier.

    `category` is `hromada` for the 1,469 communities, `crimea` for the occupied Crimean ones and
    `special_city` for Kyiv and Sevastopol; pickers decide which of them to offer.
    """

    __tablename__ = "hromada"

    katottg: Mapped[str] = mapped_column(String(19), primary_key=True)
    name_uk: Mapped[str] = mapped_column(String(100))
    name_latin: Mapped[str] = mapped_column(String(120))
    name_key: Mapped[str] = mapped_column(String(120), index=True)
    # Other folded spellings, "/kijow/kiev/" (see db.place_spellings.search_forms); "" when none.
    name_forms: Mapped[str] = mapped_column(String(400), default="", server_default="")
    oblast: Mapped[str] = mapped_column(String(100))
    raion: Mapped[str | None] = mapped_column(String(100))
    admin_centre: Mapped[str | None] = mapped_column(String(100))
    admin_centre_category: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20), default="hromada")


class Settlement(Base):
    """A city, selyshche or village, so an intern who knows only the village finds the hromada."""

    __tablename__ = "settlement"

    katottg: Mapped[str] = mapped_column(String(19), primary_key=True)
    name_uk: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(120), index=True)
    name_forms: Mapped[str] = mapped_column(String(400), default="", server_default="")
    category: Mapped[str] = mapped_column(String(20))
    hromada_katottg: Mapped[str | None] = mapped_column(String(19), index=True)
    raion: Mapped[str | None] = mapped_column(String(100))
    oblast: Mapped[str] = mapped_column(String(100))


class ReferenceDataset(Base):
    """Which version (sha256) of each reference file is loaded, so loading is idempotent."""

    __tablename__ = "reference_dataset"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Person(Base):
    """Someone who talks to the bot (or a staff member added before they ever did)."""

    __tablename__ = "person"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'staff', 'admin')", name="role_known"),
        CheckConstraint(
            "language IS NULL OR language IN ('pl', 'uk', 'en')", name="language_known"
        ),
        Index("ix_person_blocked_at", "blocked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    language: Mapped[str | None] = mapped_column(String(5))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(10), default="user", server_default="user")
    start_payload: Mapped[str | None] = mapped_column(String(64))
    consent_version: Mapped[str | None] = mapped_column(String(20))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Opt-in (consent, art. 6(1)(a)) to hear about the next edition after a call has closed.
    news_opt_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_staff(self) -> bool:
        return self.role in ("staff", "admin")

    @property
    def has_consented(self) -> bool:
        return self.consent_at is not None


class Application(Base):
    """One person's answers to one programme's questionnaire, saved as each answer is given.

    `current_question` is where the person is (None: at the summary); `editing` means an answer
    is being changed from the summary, so the person returns there afterwards.
    """

    __tablename__ = "application"
    __table_args__ = (
        UniqueConstraint("person_id", "programme_id"),
        CheckConstraint(
            "status IN ('draft', 'submitted', 'eligible', 'ineligible', 'withdrawn')",
            name="status_known",
        ),
        CheckConstraint("audience IN ('municipality', 'intern')", name="audience_known"),
        Index("ix_application_programme_status", "programme_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    programme_id: Mapped[str] = mapped_column(String(40))
    audience: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    current_question: Mapped[str | None] = mapped_column(String(24))
    editing: Mapped[bool] = mapped_column(Boolean, default=False)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    eligibility_reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None


class Outbox(Base):
    """Every message that is not an immediate reply: reminders, broadcasts, staff notices.

    A sender claims due rows atomically, sends them within Telegram's limits and records the
    outcome, so a restart or a second instance neither loses nor repeats a message. The text is
    rendered at send time, in the recipient's language and time zone, from `kind` + `payload`.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'expired', 'cancelled')",
            name="status_known",
        ),
        Index("ix_outbox_due", "status", "due_at", "priority"),
        Index("ix_outbox_person", "person_id", "status"),
        Index("ix_outbox_broadcast", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # Lower goes first: reminders (0) before staff notices (5) before broadcasts (10).
    priority: Mapped[int] = mapped_column(Integer, default=5)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the message is about, so a change there can cancel or move it in the same transaction.
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking.id", ondelete="CASCADE"), index=True
    )
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcast.id", ondelete="CASCADE"), index=True
    )


class Invite(Base):
    """A single-use invitation link (`t.me/<bot>?start=<code>`) for an intern."""

    __tablename__ = "invite"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    audience: Mapped[str] = mapped_column(String(20), default="intern")
    language: Mapped[str] = mapped_column(String(5), default="uk")
    note: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Match(Base):
    """An intern placed with a host. Unmatching ends the row; history stays."""

    __tablename__ = "match"
    __table_args__ = (
        Index(
            "uq_match_active_intern",
            "intern_application_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[str] = mapped_column(String(40))
    intern_application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE")
    )
    host_application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """An information meeting, internship, study visit or other dated event.

    `seats_taken` counts active bookings and open waitlist offers; the check constraint and a
    conditional UPDATE (`… WHERE seats_taken < capacity`) keep it within `capacity` whatever
    the concurrency.
    """

    __tablename__ = "event"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('info_meeting', 'internship', 'study_visit', 'other')", name="kind_known"
        ),
        CheckConstraint("audience IN ('municipality', 'intern', 'all')", name="audience_known"),
        CheckConstraint("status IN ('scheduled', 'cancelled')", name="status_known"),
        CheckConstraint(
            "seats_taken >= 0 AND (capacity IS NULL OR seats_taken <= capacity)",
            name="seats_within_capacity",
        ),
        Index("ix_event_programme_starts", "programme_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20), default="info_meeting")
    audience: Mapped[str] = mapped_column(String(20), default="municipality")
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    capacity: Mapped[int | None] = mapped_column(Integer)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    join_link: Mapped[str | None] = mapped_column(String(500))
    place: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def _event_kind(context: Any) -> str | None:
    """A booking inserted without its kind takes its event's (in the same transaction)."""
    event_id = context.get_current_parameters().get("event_id")
    return context.connection.scalar(select(Event.kind).where(Event.id == event_id))


class Booking(Base):
    """A seat (active), a place in the queue (waitlisted), or a held seat on offer (offered)."""

    __tablename__ = "booking"
    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'waitlisted', 'offered', 'cancelled', 'expired')",
            name="status_known",
        ),
        CheckConstraint(
            "attendance IS NULL OR attendance IN ('attended', 'no_show')", name="attendance_known"
        ),
        # One seat per person per programme and kind of event (an info meeting, an internship
        # and a study visit can be held together); one live entry per person per event.
        Index(
            "uq_booking_one_seat",
            "person_id",
            "programme_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index(
            "uq_booking_one_entry",
            "event_id",
            "person_id",
            unique=True,
            sqlite_where=text("status IN ('active', 'waitlisted', 'offered')"),
            postgresql_where=text("status IN ('active', 'waitlisted', 'offered')"),
        ),
        Index("ix_booking_event_status", "event_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    programme_id: Mapped[str] = mapped_column(String(40))
    # The event's kind, copied when the booking is made (an event's kind never changes), so
    # the unique index above can name it.
    kind: Mapped[str] = mapped_column(String(20), default=_event_kind)
    status: Mapped[str] = mapped_column(String(12), default="active")
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attendance: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Broadcast(Base):
    """A message from staff to a segment; each recipient is one outbox row."""

    __tablename__ = "broadcast"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'scheduled', 'running', 'done', 'cancelled')",
            name="status_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[str] = mapped_column(String(40))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    segment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    fallback_language: Mapped[str] = mapped_column(String(5), default="pl")
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What its outbox rows said, kept when they are purged (`purged_at`) after a while.
    sent_count: Mapped[int | None] = mapped_column(Integer)
    blocked_count: Mapped[int | None] = mapped_column(Integer)
    failed_count: Mapped[int | None] = mapped_column(Integer)
    cancelled_count: Mapped[int | None] = mapped_column(Integer)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The one instance that edits the progress card (its name) and until when it holds the
    # card; another takes the card over once that time has passed (bot/broadcast_watch.py).
    card_owner: Mapped[str | None] = mapped_column(String(40))
    card_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SendBudget(Base):
    """The Telegram budget the instances share when they share PostgreSQL and no Redis
    (bot/budget_postgres.py): one row, locked by whoever takes from the budget; a pause that
    Telegram asked for (429) holds every instance."""

    __tablename__ = "send_budget"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SendSlot(Base):
    """One of SEND_RATE sends a second: held by an instance while its send is out, then free
    again a second after the send was answered (by the database's clock)."""

    __tablename__ = "send_slot"

    n: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    free_at: Mapped[datetime] = mapped_column(UTCDateTime)
    holder: Mapped[str | None] = mapped_column(String(40))


class SendChat(Base):
    """When a chat may be sent to again (one message a second; 20 a minute in a group), and
    the instance whose send to it is out."""

    __tablename__ = "send_chat"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    free_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    holder: Mapped[str | None] = mapped_column(String(40))


class ProcessedUpdate(Base):
    """Update ids already handled, so a redelivered webhook update is processed once."""

    __tablename__ = "processed_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AuditLog(Base):
    """Staff actions and other things someone may later need to account for."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(120))
    count: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
