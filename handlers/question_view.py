"""How questionnaire steps look in Telegram: question cards, place matches, summary, verdict."""

from __future__ import annotations

import html
import re
from typing import Any

from aiogram.types import KeyboardButton, ReplyKeyboardMarkup

from bot import reasons
from bot.i18n import _, __, format_datetime, format_number
from bot.programme import AudienceSpec, Programme, Question
from bot.services import eligibility
from bot.services.answers import InvalidAnswer
from bot.services.pickers import code_of
from bot.services.questionnaire import Step
from handlers.callbacks import Answer, Done, Nav, News, Place, RoleChoice, Toggle, packed
from handlers.keyboards import Button, InlineKeyboard, inline_keyboard
from handlers.keyboards import button as _button

SUMMARY_ANSWER_LIMIT = 160
KEEP_LABEL_LIMIT = 40
# Answers picked from buttons are kept by pressing the marked one again; the rest get a button.
MARKED_KINDS = ("yes_no", "single_choice", "multiple_choice")

# Official kinds of local government (TERC wording) in the person's language.
KIND_NAMES = {
    "gmina miejska": __("urban gmina"),
    "gmina wiejska": __("rural gmina"),
    "gmina miejsko-wiejska": __("urban-rural gmina"),
    "miasto na prawach powiatu": __("city with powiat rights"),
    "powiat": __("powiat"),
}

INVALID_TEXTS = {
    "empty": __("The answer is empty. Please type it again."),
    "too_short": __("That is too short: please write at least {min} characters."),
    "too_long": __("That is too long: {length} characters, at most {max} fit. Please shorten it."),
    "email": __("That does not look like an e-mail address. Please check it, e.g. name@gmina.pl."),
    "phone": __(
        "That does not look like a phone number. Please type it with the country code, "
        "e.g. +48 600 100 200, or share your number with the button."
    ),
    "integer": __("Please type a whole number, digits only, e.g. 12500."),
    "integer_min": __("The number must be at least {min}."),
    "integer_max": __("The number can be at most {max}."),
    "date": __("Please type a date as DD.MM.YYYY, e.g. 15.10.2026."),
    "choose": __("Please choose one of the buttons."),
    "choose_more": __("Please choose at least {min}."),
    "choose_fewer": __("You can choose at most {max}."),
    "use_buttons": __("Please use the buttons under the question."),
    "own_contact": __("Please share your own number, or type it."),
}


def invalid_text(error: InvalidAnswer) -> str:
    template = INVALID_TEXTS.get(error.code, INVALID_TEXTS["choose"])
    return str(template).format(**error.params)


def kind_name(kind: str) -> str:
    return str(KIND_NAMES[kind]) if kind in KIND_NAMES else kind


def describe_place(place: dict[str, Any], language: str) -> str:
    """One line naming a place so namesakes are told apart."""
    if "katottg" in place:
        name = place["name_uk"] if language == "uk" else place["name_latin"]
        where = ", ".join(filter(None, (place.get("raion"), place.get("oblast"))))
        return f"{name} ({where})"
    if "powiat" in place:  # a gmina
        return _("{name} ({kind}, powiat {powiat}, {voivodeship})").format(
            name=place["name"],
            kind=kind_name(place["kind"]),
            powiat=place["powiat"],
            voivodeship=place["voivodeship"],
        )
    return _("{name} ({kind}, {voivodeship})").format(
        name=place["name"], kind=kind_name(place["kind"]), voivodeship=place["voivodeship"]
    )


def place_button_label(match: Any, language: str) -> str:
    if hasattr(match, "katottg"):
        name = match.name_uk if language == "uk" else match.name_latin
        label = f"{name} · {(match.raion or match.oblast).replace(' район', '')}"
        if match.via_settlement:
            label += f" ({match.via_settlement})"
        return label
    if hasattr(match, "powiat"):
        return f"{match.name} · {kind_name(match.kind)} · {match.powiat}"
    return f"{match.name} · {kind_name(match.kind)} · {match.voivodeship}"


def format_answer(question: Question, value: Any, language: str) -> str:
    if value is None:
        return _("— (skipped)")
    if question.kind == "yes_no":
        return _("Yes") if value else _("No")
    if question.kind == "single_choice":
        choice = question.choice(str(value))
        return choice.label.get(language) if choice else str(value)
    if question.kind == "multiple_choice":
        labels = [c.label.get(language) for c in question.choices if c.id in value]
        return ", ".join(labels) if labels else "—"
    if isinstance(value, dict):
        return html.escape(describe_place(value, language))
    if question.kind == "integer":
        return format_number(int(value), language)
    text = str(value)
    if len(text) > SUMMARY_ANSWER_LIMIT:
        text = text[: SUMMARY_ANSWER_LIMIT - 1].rstrip() + "…"
    return html.escape(text)


def plain(text: str) -> str:
    """Programme texts may carry <b>/<i>; buttons and headings want the words only."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _within_limit(lines: list[str], limit: int = 4000) -> str:
    """Whole lines up to Telegram's 4096 characters, so no HTML tag is ever cut in half."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def question_card(step: Step, language: str) -> tuple[str, InlineKeyboard]:
    question = step.question
    assert question is not None
    application = step.application
    lines = [
        "<b>"
        + _("Question {number} of {total}").format(number=step.number, total=step.total)
        + "</b>",
        "",
        question.text.get(language),
    ]
    if question.help:
        lines += ["", "<i>" + question.help.get(language) + "</i>"]
    current = application.answers.get(question.id)
    if question.id in application.answers and question.kind != "multiple_choice":
        lines += [
            "",
            _("Current answer: {answer}").format(answer=format_answer(question, current, language)),
        ]
    rows: list[list[Button]] = []
    if question.kind == "yes_no":
        rows.append(
            [
                _button(
                    ("✓ " if current is True else "") + _("Yes"),
                    packed(Answer, q=question.id, v="yes"),
                ),
                _button(
                    ("✓ " if current is False else "") + _("No"),
                    packed(Answer, q=question.id, v="no"),
                ),
            ]
        )
    elif question.kind == "single_choice":
        for choice in question.choices:
            mark = "✓ " if current == choice.id else ""
            rows.append(
                [
                    _button(
                        mark + choice.label.get(language),
                        packed(Answer, q=question.id, v=choice.id),
                    )
                ]
            )
    elif question.kind == "multiple_choice":
        selected = set(current or [])
        for choice in question.choices:
            mark = "☑️ " if choice.id in selected else "⬜ "
            rows.append(
                [
                    _button(
                        mark + choice.label.get(language),
                        packed(Toggle, q=question.id, v=choice.id),
                    )
                ]
            )
        rows.append([_button(_("Done ✓"), packed(Done, q=question.id))])
    if (
        current is not None
        and question.kind not in MARKED_KINDS
        and not application.editing
        and not step.answer_rules_out
    ):
        rows.append([_button(keep_label(question, current, language),
                             packed(Nav, action="keep", q=question.id))])
    nav: list[Button] = []
    if application.editing:
        nav.append(_button(_("↩ Back to summary"), packed(Nav, action="summary", q=question.id)))
    elif step.number > 1:
        nav.append(_button(_("← Back"), packed(Nav, action="back", q=question.id)))
    if not question.required:
        nav.append(_button(_("Skip →"), packed(Nav, action="skip", q=question.id)))
    if nav:
        rows.append(nav)
    return "\n".join(lines), inline_keyboard(rows)


def keep_label(question: Question, value: Any, language: str) -> str:
    answer = plain(format_answer(question, value, language))
    if len(answer) > KEEP_LABEL_LIMIT:
        answer = answer[: KEEP_LABEL_LIMIT - 1].rstrip() + "…"
    return _("✓ Keep: {answer}").format(answer=answer)


def ruled_out_card(step: Step, spec: AudienceSpec, language: str) -> tuple[str, InlineKeyboard]:
    """The answer just given already rules the application out: say so now, kindly, and
    offer to change it or to stop here."""
    question = step.question
    assert question is not None
    lines = [
        _("With this answer, the application does not meet the criteria of this edition:"),
        "",
        *reasons.reason_lines(spec, list(step.ruled_out), language),
        "",
        _(
            "If the answer is not right, please change it. Or stop here: we will keep your "
            "application as not eligible, with this reason, for the programme team's records."
        ),
    ]
    keyboard = inline_keyboard(
        [
            [_button(_("✏️ Change the answer"), packed(Nav, action="change", q=question.id))],
            [_button(_("Stop here"), packed(Nav, action="stop", q=question.id))],
        ]
    )
    return "\n".join(lines), keyboard


def contact_keyboard() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("📱 Share my phone number"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def matches_card(
    question: Question, matches: list[Any], language: str
) -> tuple[str, InlineKeyboard]:
    rows = [
        [
            _button(
                place_button_label(m, language)[:60], packed(Place, q=question.id, code=code_of(m))
            )
        ]
        for m in matches
    ]
    rows.append(
        [
            _button(
                _("None of these — I will type again"), packed(Nav, action="retype", q=question.id)
            )
        ]
    )
    if any(getattr(m, "fuzzy", False) for m in matches):
        text = _("I found no exact match. Did you mean one of these?")
    else:
        text = _("Please choose from the list:")
    return text, inline_keyboard(rows)


def no_matches_text(question: Question) -> str:
    if question.kind == "hromada":
        return _(
            "I could not find a hromada, town or village by that name. Please try again: "
            "a few letters are enough."
        )
    return _(
        "I could not find it by that name. Please try again: a few letters are enough, "
        "and Polish letters are optional."
    )


def occupied_text() -> str:
    return _(
        "Communities in temporarily occupied Crimea and Sevastopol cannot be chosen in this form. "
        "If you represent such a community working from elsewhere, please write to the programme "
        "team, and we will find a way together."
    )


def place_verdict_line(place: dict[str, Any], checks: list[bool], language: str) -> str:
    """E.g. "Wadowice — urban-rural gmina, 36,475 inhabitants (GUS, 2023) — meets it"."""
    name = place.get("name") or place.get("name_uk", "")
    parts = [html.escape(str(name))]
    if "kind" in place:
        parts.append(kind_name(place["kind"]))
    if place.get("population") is not None:
        parts.append(
            _("{population} inhabitants (GUS, {year})").format(
                population=format_number(place["population"], language),
                year=place.get("population_year") or "?",
            )
        )
    line = " — ".join([parts[0], ", ".join(parts[1:])]) if len(parts) > 1 else parts[0]
    if checks:
        if all(checks):
            line += " — " + _("meets the criterion ✅")
        else:
            line += " — " + _("above the programme's limit ⚠️")
    return line


def summary_card(
    programme: Programme,
    rows: list[tuple[Question, Any]],
    language: str,
    submitted: bool,
    can_change: bool,
) -> tuple[str, InlineKeyboard]:
    lines = ["<b>" + _("Your answers") + "</b>", ""]
    buttons: list[Button] = []
    for number, (question, value) in enumerate(rows, start=1):
        label = plain((question.label or question.text).get(language))
        lines.append(
            f"<b>{number}. {html.escape(label)}</b>\n{format_answer(question, value, language)}"
        )
        if can_change:
            buttons.append(
                _button(f"✏️ {number}. {label}"[:32], packed(Nav, action="edit", q=question.id))
            )
    keyboard = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if not submitted:
        lines += ["", _("Please check your answers. You can change any of them before sending.")]
        keyboard.append([_button(_("✅ Send the application"), packed(Nav, action="submit"))])
    text = _within_limit(lines)
    return text, inline_keyboard(keyboard)


def verdict_text(
    programme: Programme,
    spec: AudienceSpec,
    verdict: eligibility.Verdict,
    language: str,
    time_zone: str | None,
    *,
    stopped: bool = False,
) -> str:
    """The answer to "Send" (or to "Stop here", `stopped`: the form was not finished)."""
    closes = format_datetime(programme.last_moment, language, time_zone)
    if stopped:
        lines = [
            _(
                "Thank you. We have kept your application as not eligible for this edition, "
                "for the programme team's records:"
            ),
            *reasons.reason_lines(spec, verdict.reasons, language),
            "",
            _(
                "If something changes, you can correct the answer with /start and carry on "
                "until {closes}. We can also let you know about the next edition."
            ).format(closes=closes),
        ]
        return "\n".join(lines)
    if verdict.eligible:
        lines = [
            _(
                "✅ Thank you! Your application has been received and meets the criteria of "
                "the programme."
            ),
            "",
            _(
                "Next we will invite you to choose the date of an online information meeting; "
                "we will write to you here."
            ),
        ]
    else:
        lines = [
            _(
                "Thank you for your application. Unfortunately it does not meet the criteria "
                "of this edition:"
            ),
            *reasons.reason_lines(spec, verdict.reasons, language),
            "",
            _(
                "If something has changed, you can correct your answers until {closes}. "
                "We can also let you know about the next edition."
            ).format(closes=closes),
        ]
    if verdict.needs_review:
        lines += [
            "",
            _(
                "There is no official population figure for your gmina yet, so our "
                "team will check the number you gave."
            ),
        ]
    lines += ["", _("You can see and change your answers with /start.")]
    return "\n".join(lines)


def role_keyboard() -> InlineKeyboard:
    return inline_keyboard(
        [
            [
                _button(
                    _("🇵🇱 I represent a Polish local government"),
                    packed(RoleChoice, audience="municipality"),
                )
            ],
            [
                _button(
                    _("🇺🇦 I work for a Ukrainian hromada"), packed(RoleChoice, audience="intern")
                )
            ],
        ]
    )


def news_keyboard() -> InlineKeyboard:
    return inline_keyboard(
        [[_button(_("🔔 Let me know about the next edition"), packed(News, on=True))]]
    )
