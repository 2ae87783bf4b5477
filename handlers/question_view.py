"""How questionnaire steps look in Telegram: question cards, place matches, summary, verdict."""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import asdict
from typing import Any

from aiogram.types import KeyboardButton, ReplyKeyboardMarkup

from bot import callbacks, place_names, reasons
from bot.callbacks import (
    Answer,
    Done,
    Nav,
    News,
    Place,
    PlacePage,
    RoleChoice,
    Toggle,
    packed,
)
from bot.i18n import (
    _,
    __,
    format_deadline,
    format_number,
    in_running_text,
    ngettext,
)
from bot.programme import AudienceSpec, Programme, Question
from bot.services import eligibility
from bot.services.answers import InvalidAnswer
from bot.services.pickers import PAGE_SIZE, code_of
from bot.services.questionnaire import Step
from handlers.keyboards import Button, InlineKeyboard, inline_keyboard
from handlers.keyboards import button as _button

SUMMARY_ANSWER_LIMIT = 160
KEEP_LABEL_LIMIT = 40
# Answers picked from buttons are kept by pressing the marked one again; the rest get a button.
MARKED_KINDS = ("yes_no", "single_choice", "multiple_choice")

INVALID_TEXTS = {
    "empty": __("The answer is empty. Please type it again."),
    "too_short": __("That is too short: please write at least {min} characters."),
    "too_long": __("That is too long: {length} characters, at most {max} fit. Please shorten it."),
    "email": __("That does not look like an e-mail address. Please check it, e.g. {example}."),
    "phone": __(
        "That does not look like a phone number. Please type it with the country code, "
        "e.g. {example}, or share your number with the button."
    ),
    "integer": __("Please type a whole number, digits only, e.g. 12500."),
    "integer_min": __("The number must be at least {min}."),
    "integer_max": __("The number can be at most {max}."),
    "date": __("Please type a date as DD.MM.YYYY, e.g. 15.10.2026."),
    "choose": __("Please choose one of the buttons."),
    "choose_more": __("Please choose at least {min}."),
    "choose_one": __("Please choose at least one answer."),
    "choose_fewer": __("You can choose at most {max}."),
    "use_buttons": __("Please use the buttons under the question."),
    "own_contact": __("Please share your own number, or type it."),
}


# Examples in the re-ask match the person: a Polish host or a Ukrainian intern (the audience's
# phone region, see programmes/*.toml).
EXAMPLES = {
    "email": {"PL": "name@gmina.pl", "UA": "name@rada.gov.ua"},
    "phone": {"PL": "+48 600 100 200", "UA": "+380 67 123 45 67"},
}


def invalid_text(error: InvalidAnswer) -> str:
    code = error.code
    if code == "choose_more" and error.params.get("min") == 1:
        code = "choose_one"
    template = INVALID_TEXTS.get(code, INVALID_TEXTS["choose"])
    params = dict(error.params)
    if code in EXAMPLES:
        examples = EXAMPLES[code]
        params["example"] = examples.get(str(params.get("region")), examples["PL"])
    return str(template).format(**params)


def place_row(match: Any, language: str) -> str:
    """A picker's row: the place, its raion and oblast (or powiat and voivodeship), and the
    town or gmina whose name matched when it is not the place's own."""
    line = place_names.describe(asdict(match), language)
    via = getattr(match, "via_settlement", None)
    if via and via != getattr(match, "admin_centre", None):  # the centre is named already
        line += f" ({place_names.settlement_name(via, match.oblast, language)})"
    elif getattr(match, "via_gmina", None):
        line += f" ({match.via_gmina})"
    return line


def place_button_label(match: Any, language: str) -> str:
    """A button's short label; its number leads to the full row in the card's text."""
    if hasattr(match, "katottg"):
        data = asdict(match)
        return " · ".join(
            filter(None, (place_names.hromada_name(data, language),
                          place_names.oblast_name(match.oblast, language)))
        )
    kind = place_names.kind_name(match.kind, language)
    if hasattr(match, "powiat"):  # a gmina
        where = None if match.kind == place_names.CITY_WITH_POWIAT_RIGHTS else match.powiat
        return " · ".join(filter(None, (match.name, kind, where)))
    return " · ".join((place_names.place_title(asdict(match), language), match.voivodeship))


def place_rows(matches: list[Any], language: str) -> list[str]:
    """Rows that would read the same get the kind, the centre, then the code, so no two look
    alike (two Mykołajiwka hromadas share the Sumy raion)."""
    rows = [place_row(match, language) for match in matches]
    for extra in (_kind, _centre, _code):
        counts = Counter(rows)
        rows = [
            f"{row} — {extra(match, language)}" if counts[row] > 1 else row
            for row, match in zip(rows, matches, strict=True)
        ]
    return rows


def _kind(match: Any, language: str) -> str:
    if not hasattr(match, "katottg"):
        return place_names.kind_name(str(getattr(match, "kind", "")), language)
    return place_names.hromada_kind(asdict(match), language) or code_of(match)


def _centre(match: Any, language: str) -> str:
    centre = getattr(match, "admin_centre", None)
    if not centre:
        return code_of(match)
    return place_names.settlement_name(centre, match.oblast, language)


def _code(match: Any, language: str) -> str:
    return code_of(match)


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
        return in_running_text(labels) if labels else "—"
    if isinstance(value, dict):
        return html.escape(place_names.describe(value, language))
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
    question: Question, matches: list[Any], language: str, page: int = 0
) -> tuple[str, InlineKeyboard]:
    """One page of matches: numbered full rows in the text, the same numbers on the buttons
    (a button's label may be cut short; the text never is), and pages when there are more."""
    pages = max(1, -(-len(matches) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    first = page * PAGE_SIZE
    shown = matches[first : first + PAGE_SIZE]
    rows_text = place_rows(matches, language)[first : first + PAGE_SIZE]
    rows = [
        [
            _button(
                _cut(f"{first + number}. {place_button_label(m, language)}", 60),
                packed(Place, q=question.id, code=code_of(m)),
            )
        ]
        for number, m in enumerate(shown, start=1)
    ]
    nav: list[Button] = []
    if page > 0:
        nav.append(_button(_("◀ Previous"), packed(PlacePage, q=question.id, page=page - 1)))
    if page < pages - 1:
        nav.append(_button(_("Next ▶"), packed(PlacePage, q=question.id, page=page + 1)))
    if nav:
        rows.append(nav)
    rows.append(
        [
            _button(
                _("None of these — I will type again"), packed(Nav, action="retype", q=question.id)
            )
        ]
    )
    if any(getattr(m, "fuzzy", False) for m in matches):
        lead = _("I found no exact match. Did you mean one of these?")
    else:
        lead = _("Please choose from the list:")
    lines = [lead]
    if pages > 1:
        lines.append(
            ngettext(
                "{count} match; here are {first}–{last}.",
                "{count} matches; here are {first}–{last}.",
                len(matches),
            ).format(count=len(matches), first=first + 1, last=first + len(shown))
        )
    lines.append("")
    lines += [
        f"{first + number}. {html.escape(text)}" for number, text in enumerate(rows_text, start=1)
    ]
    if pages > 1 and question.kind == "hromada":
        lines += ["", _("To shorten the list, type the name with the oblast or raion, e.g. "
                        "<i>Yablunivka Kyiv</i>.")]
    return "\n".join(lines), inline_keyboard(rows)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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
        "Communities in temporarily occupied territory cannot be chosen in this form now. "
        "If you represent such a community working from elsewhere, please write to the programme "
        "team, and we will find a way together."
    )


def place_verdict_line(place: dict[str, Any], checks: list[bool], language: str) -> str:
    """E.g. "Wadowice — urban-rural gmina, 36,475 inhabitants (GUS, 2023) — meets it";
    "powiat sejneński — 18 645 mieszkańców"; a hromada named in full."""
    if "katottg" in place:
        parts = [html.escape(place_names.describe(place, language))]
    else:
        parts = [html.escape(place_names.place_title(place, language))]
        if "powiat" in place or place.get("kind") == place_names.CITY_WITH_POWIAT_RIGHTS:
            parts.append(place_names.kind_name(str(place.get("kind", "")), language))
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
    *,
    stopped: bool = False,
) -> str:
    """The answer to "Send" (or to "Stop here", `stopped`: the form was not finished)."""
    closes = format_deadline(programme.last_moment, language, programme.time_zone)
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
            [_button(_("ℹ️ About the programme"), packed(callbacks.AboutPress))],
        ]
    )


def news_keyboard() -> InlineKeyboard:
    return inline_keyboard(
        [[_button(_("🔔 Let me know about the next edition"), packed(News, on=True))]]
    )
