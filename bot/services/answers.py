"""Turning what a person typed into a stored answer, or saying precisely why not.

Validation never raises anything but `InvalidAnswer`, whose `code` the Telegram layer turns into
a polite re-ask in the person's language.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from bot.programme import Condition, Question

_YES = {"yes", "y", "tak", "t", "так", "да", "1", "true"}
_NO = {"no", "n", "nie", "ні", "нет", "0", "false"}
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y")


@dataclass
class InvalidAnswer(Exception):
    code: str
    params: dict[str, Any] = field(default_factory=dict)


def clean_text(raw: str) -> str:
    """Drop control and invisible formatting characters (NUL, RTL overrides, zero-width marks)."""
    kept = (
        ch for ch in raw if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )
    text = "".join(kept).replace("\t", " ")
    text = re.sub(r"[ \u00a0]{2,}", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def parse_text(question: Question, raw: str) -> str:
    text = clean_text(raw)
    if question.kind != "long_text":
        text = " ".join(text.split())
    if not text:
        raise InvalidAnswer("empty")
    if len(text) < question.min_length:
        raise InvalidAnswer("too_short", {"min": question.min_length})
    if len(text) > question.limit:
        raise InvalidAnswer("too_long", {"max": question.limit, "length": len(text)})
    return text


def parse_email(raw: str, region: str = "PL") -> str:
    """`region` (the audience's, "PL" or "UA") only picks the example the re-ask shows."""
    text = clean_text(raw)
    if len(text) > 254:
        raise InvalidAnswer("email", {"region": region})
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidAnswer("email", {"region": region}) from None
    return result.normalized


_PHONE_CHARACTERS = re.compile(r"[0-9+()\-./\s]+")


def parse_phone(raw: str, region: str) -> str:
    """E.164, e.g. "+48 600 100 200" → "+48600100200"; numbers without a prefix are `region`'s."""
    text = clean_text(raw)
    # Only ASCII digits and the usual separators: the parser would read other scripts' digits
    # (Arabic-Indic, full-width) and letters (1-800-FLOWERS) as digits, and take "ext 5",
    # "wew. 5" or "#5" as an extension and drop it from the number kept; the person is asked
    # again instead of having a number stored that is not the one they typed.
    if len(text) > 40 or not _PHONE_CHARACTERS.fullmatch(text):
        raise InvalidAnswer("phone", {"region": region})
    text = re.sub(r"^00", "+", text.replace(" ", ""))
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidAnswer("phone", {"region": region}) from None
    if number.extension or not phonenumbers.is_valid_number(number):
        raise InvalidAnswer("phone", {"region": region})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_integer(question: Question, raw: str) -> int:
    text = re.sub(r"[\s\u00a0\u202f.,'’]", "", clean_text(raw))
    if not re.fullmatch(r"\d{1,12}", text):
        raise InvalidAnswer("integer")
    value = int(text)
    if question.min_value is not None and value < question.min_value:
        raise InvalidAnswer("integer_min", {"min": question.min_value})
    if question.max_value is not None and value > question.max_value:
        raise InvalidAnswer("integer_max", {"max": question.max_value})
    return value


def parse_date(raw: str) -> str:
    text = clean_text(raw)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()  # noqa: DTZ007 - a date
        except ValueError:
            continue
    raise InvalidAnswer("date")


def parse_yes_no(raw: str) -> bool:
    word = clean_text(raw).lower().strip(".!")
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise InvalidAnswer("choose")


def parse_choice_text(question: Question, raw: str, language: str) -> str:
    """A typed choice: its number, or its label in the person's language."""
    text = clean_text(raw).lower()
    if text.isdigit() and 1 <= int(text) <= len(question.choices):
        return question.choices[int(text) - 1].id
    for choice in question.choices:
        if choice.label.get(language).lower() == text:
            return choice.id
    raise InvalidAnswer("choose")


def parse_typed(question: Question, raw: str, language: str, phone_region: str) -> Any:
    """The answer for a question answered by typing (pickers search instead)."""
    kind = question.kind
    if kind in ("text", "long_text"):
        return parse_text(question, raw)
    if kind == "email":
        return parse_email(raw, phone_region)
    if kind == "phone":
        return parse_phone(raw, phone_region)
    if kind == "integer":
        return parse_integer(question, raw)
    if kind == "date":
        return parse_date(raw)
    if kind == "yes_no":
        return parse_yes_no(raw)
    if kind == "single_choice":
        return parse_choice_text(question, raw, language)
    raise InvalidAnswer("use_buttons")


def check_choices(question: Question, selected: list[str]) -> None:
    if len(selected) < question.min_choices:
        raise InvalidAnswer("choose_more", {"min": question.min_choices})
    if question.max_choices is not None and len(selected) > question.max_choices:
        raise InvalidAnswer("choose_fewer", {"max": question.max_choices})


def resolve(answers: dict[str, Any], path: str) -> Any:
    """The value at a dotted path: "gmina.population" reads the population of the gmina answer."""
    value: Any = answers
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def compare(value: Any, op: str, expected: Any) -> bool:
    if op == "present":
        return value not in (None, "", [], {})
    if op == "absent":
        return value in (None, "", [], {})
    if value is None:
        return False
    if op == "eq":
        return bool(value == expected)
    if op == "ne":
        return bool(value != expected)
    if op == "in":
        return value in expected
    if op == "not_in":
        return value not in expected
    try:
        return {
            "lt": value < expected,
            "le": value <= expected,
            "gt": value > expected,
            "ge": value >= expected,
        }[op]
    except TypeError:
        return False


def holds(condition: Condition, answers: dict[str, Any]) -> bool:
    return compare(resolve(answers, condition.field), condition.op, condition.value)
