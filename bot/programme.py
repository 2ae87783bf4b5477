"""A programme is data: questions, eligibility rules, dates and reminders, read from a TOML file.

Staff change "up to 80,000 inhabitants" to "up to 120,000" by editing one value in the file, not
code. Every text is given in Polish, Ukrainian and English; the loader refuses a file that lacks
one, refers to a question that does not exist, or branches on a later answer.
"""

from __future__ import annotations

import re
import string
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROGRAMMES_DIR = Path(__file__).resolve().parent.parent / "programmes"
LANGUAGES = ("pl", "uk", "en")

QuestionKind = Literal[
    "text",
    "long_text",
    "email",
    "phone",
    "integer",
    "date",
    "single_choice",
    "multiple_choice",
    "yes_no",
    "gmina",
    "powiat",
    "hromada",
]
Operator = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "present", "absent"]
Audience = Literal["municipality", "intern"]

# Ids travel in callback data (64 bytes with a 19-character KATOTTG code): keep them short.
_ID = r"^[a-z][a-z0-9_]{0,23}$"
_OFFSET_RE = re.compile(r"^(\d+)\s*([dhm])$")
_RELATIVE_RE = re.compile(r"^today\s*([+-])\s*(\d+)d$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Texts(Strict):
    """One text in every language the bot speaks."""

    pl: str = Field(min_length=1)
    uk: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, language: str) -> str:
        return str(getattr(self, language, self.en))


class Choice(Strict):
    id: Annotated[str, Field(pattern=_ID)]
    label: Texts


class Condition(Strict):
    """`field` is a question id, optionally with a dotted path into a structured answer."""

    field: str
    op: Operator = "eq"
    value: Any = None

    @property
    def question_id(self) -> str:
        return self.field.split(".", 1)[0]


class Question(Strict):
    id: Annotated[str, Field(pattern=_ID)]
    kind: QuestionKind
    text: Texts
    # A few words for the summary and exports ("E-mail", "Mentor"); the text is used without it.
    label: Texts | None = None
    help: Texts | None = None
    required: bool = True
    choices: tuple[Choice, ...] = ()
    min_length: int = Field(default=1, ge=0)
    max_length: int | None = Field(default=None, ge=1, le=4000)
    min_value: int | None = None
    max_value: int | None = None
    min_choices: int = Field(default=1, ge=0)
    max_choices: int | None = None
    show_if: tuple[Condition, ...] = ()
    # Deep-link payloads that answer this question in advance, e.g. {zmp = "zmp"}.
    prefill_from_start: dict[str, str] = Field(default_factory=dict)

    @field_validator("show_if", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _limits_fit_kind(self) -> Question:
        if self.kind != "integer" and (self.min_value is not None or self.max_value is not None):
            raise ValueError(f"question {self.id!r}: min_value/max_value are for integers")
        if self.kind == "multiple_choice":
            top = self.max_choices if self.max_choices is not None else len(self.choices)
            if not self.min_choices <= top <= len(self.choices):
                raise ValueError(
                    f"question {self.id!r}: need min_choices <= max_choices <= number of choices"
                )
        return self

    @model_validator(mode="after")
    def _choices_fit_kind(self) -> Question:
        needs_choices = self.kind in ("single_choice", "multiple_choice")
        if needs_choices and not self.choices:
            raise ValueError(f"question {self.id!r} ({self.kind}) needs choices")
        if not needs_choices and self.choices:
            raise ValueError(f"question {self.id!r} ({self.kind}) cannot have choices")
        ids = [choice.id for choice in self.choices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"question {self.id!r} repeats a choice id")
        for payload, choice in self.prefill_from_start.items():
            if choice not in ids:
                raise ValueError(f"question {self.id!r}: prefill {payload!r} → unknown {choice!r}")
        return self

    @property
    def limit(self) -> int:
        """Longest accepted text: Telegram's message limit bounds long answers anyway."""
        default = 2000 if self.kind == "long_text" else 200
        return self.max_length or default

    def choice(self, choice_id: str) -> Choice | None:
        return next((c for c in self.choices if c.id == choice_id), None)


class Rule(Strict):
    """An eligibility rule: the answer at `field` must satisfy `op value`, or `reason` is shown.

    Where the official figure is missing, `fallback_field` (a person's own statement) decides,
    and the application is flagged for staff to check.
    """

    field: str
    op: Operator
    value: Any = None
    reason: Texts
    fallback_field: str | None = None

    @model_validator(mode="after")
    def _list_for_membership(self) -> Rule:
        if self.op in ("in", "not_in") and not isinstance(self.value, list | tuple):
            raise ValueError(f"rule on {self.field!r}: '{self.op}' needs a list value")
        return self

    @model_validator(mode="after")
    def _known_placeholders(self) -> Rule:
        # A reason may say {value} (the answer) and {limit} (the rule's value), nothing else:
        # anything else would reach people raw, or fail as they are told the verdict.
        for language in LANGUAGES:
            text = self.reason.get(language)
            try:
                names = [n for _t, n, _s, _c in string.Formatter().parse(text) if n is not None]
            except ValueError as exc:
                raise ValueError(f"rule on {self.field!r}: reason.{language}: {exc}") from None
            unknown = [n or "{}" for n in names if n not in ("value", "limit")]
            if unknown:
                raise ValueError(
                    f"rule on {self.field!r}: reason.{language} may use {{value}} and "
                    f"{{limit}} only, not {', '.join(unknown)}"
                )
        return self

    @property
    def question_id(self) -> str:
        return self.field.split(".", 1)[0]


class Contact(Strict):
    """The programme team, shown wherever the bot says "contact the programme team"."""

    email: Annotated[str, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[a-z]{2,}$")]
    # A Telegram username, with or without the "@".
    telegram: Annotated[str | None, Field(pattern=r"^@?[A-Za-z][A-Za-z0-9_]{4,31}$")] = None

    @property
    def telegram_handle(self) -> str | None:
        return "@" + self.telegram.lstrip("@") if self.telegram else None


class About(Strict):
    """The programme's facts for /about, per language. `{max_inhabitants}` and the other
    names in [limits] are filled in from there, so a changed limit is changed here too."""

    organisers: Texts
    hosts: Texts
    interns: Texts
    meetings: Texts
    study_visits: Texts
    projects: Texts

    def sections(self) -> tuple[Texts, ...]:
        return (
            self.organisers,
            self.hosts,
            self.interns,
            self.meetings,
            self.study_visits,
            self.projects,
        )


class AudienceSpec(Strict):
    name: Texts
    time_zone: str
    # Phone numbers typed without a country code are read as numbers of this country.
    phone_region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "PL"
    questions: tuple[Question, ...]
    eligibility: tuple[Rule, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> AudienceSpec:
        seen: set[str] = set()
        for question in self.questions:
            if question.id in seen:
                raise ValueError(f"question id {question.id!r} is used twice")
            for condition in question.show_if:
                if condition.question_id not in seen:
                    raise ValueError(
                        f"question {question.id!r}: show_if refers to {condition.field!r}, "
                        "which is not an earlier question"
                    )
            seen.add(question.id)
        for rule in self.eligibility:
            for field in filter(None, (rule.field, rule.fallback_field)):
                if field.split(".", 1)[0] not in seen:
                    raise ValueError(f"eligibility rule refers to unknown question {field!r}")
        return self

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


class Occupied(Strict):
    """Ukrainian communities the programme cannot serve now (temporarily occupied territory).

    KATOTTG codes or their prefixes: "UA01" is all of Crimea, "UA6508" the Skadovsk raion, a
    full 19-character code one hromada. The picker does not offer them and explains why.
    """

    katottg: tuple[Annotated[str, Field(pattern=r"^UA[0-9]{2,17}$")], ...] = ("UA01", "UA85")


class Programme(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    name: Texts
    demo: bool = False
    time_zone: str = "Europe/Warsaw"
    applications_open: datetime
    applications_close: datetime
    reminder_offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    # Booking, changing and cancelling a seat close this long before an event starts.
    booking_cutoff: timedelta = timedelta(hours=2)
    limits: dict[str, int | float] = Field(default_factory=dict)
    # Interns register through a personal invitation link unless this is false.
    intern_requires_invite: bool = True
    contact: Contact
    about: About
    occupied: Occupied = Field(default_factory=Occupied)
    audiences: dict[Audience, AudienceSpec]

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _offsets(cls, value: Any) -> Any:
        return [parse_offset(item) if isinstance(item, str) else item for item in value]

    @field_validator("booking_cutoff", mode="before")
    @classmethod
    def _cutoff(cls, value: Any) -> Any:
        return parse_offset(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _dates_in_order(self) -> Programme:
        if self.applications_close <= self.applications_open:
            raise ValueError("applications_close must be after applications_open")
        return self

    @model_validator(mode="after")
    def _about_names_limits(self) -> Programme:
        for section in self.about.sections():
            for language in LANGUAGES:
                for _text, name, _spec, _conv in string.Formatter().parse(section.get(language)):
                    if name is not None and name not in self.limits:
                        raise ValueError(f"about: {{{name}}} is not in [limits]")
        return self

    def audience(self, audience: str) -> AudienceSpec:
        return self.audiences[audience]  # type: ignore[index]

    @property
    def last_moment(self) -> datetime:
        """The close as people say it: 30 June, 23:59 (the call closes as 1 July begins)."""
        return self.applications_close - timedelta(minutes=1)

    def is_open(self, now: datetime) -> bool:
        return self.applications_open <= now < self.applications_close


def parse_offset(text: str) -> timedelta:
    match = _OFFSET_RE.match(text.strip())
    if not match:
        raise ValueError(f"offset {text!r} should look like '24h', '30m' or '2d'")
    amount, unit = int(match.group(1)), match.group(2)
    return {
        "d": timedelta(days=amount),
        "h": timedelta(hours=amount),
        "m": timedelta(minutes=amount),
    }[unit]


class ProgrammeError(Exception):
    """The file cannot be used; the message says where and why, for the person editing it."""


def _resolve_moment(value: Any, zone: ZoneInfo, today: date, end_of_day: bool) -> Any:
    """Local dates and times in the programme's zone become UTC; "today+30d" is relative."""
    if isinstance(value, str) and (match := _RELATIVE_RE.match(value.strip())):
        sign = 1 if match.group(1) == "+" else -1
        value = today + timedelta(days=sign * int(match.group(2)))
    if isinstance(value, datetime):
        local = value if value.tzinfo else value.replace(tzinfo=zone)
        return local.astimezone(UTC)
    if isinstance(value, date):
        moment = datetime.combine(value, datetime.min.time(), tzinfo=zone)
        return (moment + timedelta(days=1) if end_of_day else moment).astimezone(UTC)
    return value


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read(path: Path, depth: int = 0) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProgrammeError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProgrammeError(f"{path}: not valid TOML: {exc}") from None
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if depth > 3:
        raise ProgrammeError(f"{path}: 'extends' goes too deep")
    return _merge(_read(path.parent / parent, depth + 1), raw)


def load_programme(path: Path | str, *, today: date | None = None) -> Programme:
    path = Path(path)
    raw = _read(path)
    zone_name = raw.get("time_zone", "Europe/Warsaw")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProgrammeError(f"{path}: unknown time_zone {zone_name!r}") from None
    today = today or datetime.now(zone).date()
    for key, end_of_day in (("applications_open", False), ("applications_close", True)):
        raw[key] = _resolve_moment(raw.get(key), zone, today, end_of_day)
    _apply_limits(path, raw)
    try:
        return Programme.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = _describe_location(raw, error["loc"])
            lines.append(f"  {where}: {error['msg'].removeprefix('Value error, ')}")
        raise ProgrammeError(f"{path}: {len(lines)} problem(s)\n" + "\n".join(lines)) from None


def _apply_limits(path: Path, raw: dict[str, Any]) -> None:
    """`value_from = "max_inhabitants"` in a rule reads `[limits] max_inhabitants`: one number,
    one line to edit, however many rules use it."""
    limits = raw.get("limits") or {}
    audiences = raw.get("audiences")
    if not isinstance(audiences, dict):
        audiences = {}
    for audience, spec in audiences.items():
        for number, rule in enumerate((spec or {}).get("eligibility") or []):
            name = rule.pop("value_from", None) if isinstance(rule, dict) else None
            if name is None:
                continue
            if name not in limits:
                raise ProgrammeError(
                    f"{path}: audiences.{audience}.eligibility.{number}: value_from "
                    f"{name!r} is not in [limits]"
                )
            rule["value"] = limits[name]


def _describe_location(raw: Any, location: tuple[Any, ...]) -> str:
    """"audiences.municipality.questions.6.text.uk" → "…questions[email].text.uk"."""
    parts: list[str] = []
    node = raw
    for part in location:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            item = node[part]
            label = item.get("id") if isinstance(item, dict) else None
            if parts:
                parts[-1] = f"{parts[-1]}[{label or part}]"
            else:
                parts.append(str(part))
            node = item
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def default_programme_path() -> Path:
    return PROGRAMMES_DIR / "demo.toml"
