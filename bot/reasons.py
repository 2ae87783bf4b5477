"""Why an application is not eligible, in the reader's language: the one place reasons are
rendered (the verdict, the early "not eligible" card, the status on /start, /mydata).

A rule's value and the answer it looked at are shown by the kind of the rule's question, never
by their Python type: a yes/no answer reads "Tak" / "Так" / "Yes" (a bool is an int to Python,
and as a number it crashed Babel), a choice reads as its label, an integer and an official
figure ("gmina.population") as a number in the reader's convention, a list as its items.
"""

from __future__ import annotations

import html
import re
import string
from typing import Any

from bot.i18n import format_number, translate
from bot.programme import AudienceSpec, Question
from bot.services.eligibility import Reason


def _word(text: str, language: str) -> str:
    """A catalog word in `language`, whatever the current update's locale."""
    return translate(text, language)


def yes_no(value: bool, language: str) -> str:
    return _word("Yes", language) if value else _word("No", language)


def _one(question: Question | None, value: Any, language: str, dotted: bool) -> str:
    if isinstance(value, bool):
        return yes_no(value, language)
    if question is not None and not dotted:
        if question.kind == "yes_no":
            return yes_no(bool(value), language)
        if question.kind in ("single_choice", "multiple_choice"):
            choice = question.choice(str(value))
            return choice.label.get(language) if choice else str(value)
    if isinstance(value, int | float):
        return format_number(value, language)
    if isinstance(value, dict):  # a place: its name
        return str(value.get("name") or value.get("name_uk") or value.get("name_latin") or "")
    return str(value)


def render_value(
    spec: AudienceSpec | None, field: str | None, value: Any, language: str
) -> str:
    """A rule's value or the answer it looked at, as the reader should read it."""
    if value is None:
        return "—"
    question = spec.question(field.split(".", 1)[0]) if spec is not None and field else None
    dotted = field is not None and "." in field
    if isinstance(value, list | tuple):
        return ", ".join(_one(question, item, language, dotted) for item in value)
    return _one(question, value, language, dotted)


def render_reason(
    spec: AudienceSpec | None, reason: Reason, language: str, *, markup: bool = True
) -> str:
    """The reason's text in `language` with {value} and {limit} filled in. `markup`: for a
    Telegram HTML message (what a person typed is escaped); else plain text (tags dropped)."""
    text = reason.texts.get(language) or reason.texts.get("en") or ""
    values = {
        "value": render_value(spec, reason.field, reason.value, language),
        "limit": render_value(spec, reason.field, reason.limit, language),
    }
    if markup:
        values = {key: html.escape(item) for key, item in values.items()}
    else:
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return _fill(text, values)


def _fill(text: str, values: dict[str, str]) -> str:
    """`str.format` for the two names a reason may use; anything else in braces (a reason
    stored before the programme check refused it) is left out rather than shown raw."""
    out = []
    try:
        for literal, name, _spec, _conversion in string.Formatter().parse(text):
            out.append(literal)
            if name is not None:
                out.append(values.get(name, ""))
    except ValueError:  # a lone brace: the text as written
        return text
    return "".join(out)


def reason_lines(
    spec: AudienceSpec | None, reasons: list[Reason], language: str
) -> list[str]:
    return ["• " + render_reason(spec, reason, language) for reason in reasons]


def stored_reasons(application_reasons: list[dict[str, Any]] | None) -> list[Reason]:
    return [Reason.from_json(item) for item in application_reasons or []]
