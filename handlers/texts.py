"""Longer texts shown by more than one handler."""

from __future__ import annotations

from bot.i18n import _

# The very first message, before we know the person's language: all three at once.
FIRST_GREETING = (
    "Dzień dobry! Tu bot programu staży <b>WIN4UA</b>.\n"
    "Вітаємо! Це бот програми стажувань <b>WIN4UA</b>.\n"
    "Hello! This is the <b>WIN4UA</b> internship programme bot.\n\n"
    "Proszę wybrać język · Оберіть мову · Choose your language:"
)


def privacy_notice(contact: str) -> str:
    """The information clause of GDPR/RODO art. 13, shown before any question is asked."""
    return _(
        "<b>How we use your personal data</b>\n\n"
        "<b>Controller:</b> Fundacja Solidarności Międzynarodowej (FSM), which runs WIN4UA "
        "with Związek Miast Polskich and Związek Gmin Wiejskich RP. Contact: {contact}.\n"
        "<b>Purpose:</b> recruitment for the WIN4UA internship programme: your answers, the "
        "eligibility check, information meetings, reminders and messages about the programme.\n"
        "<b>Legal basis:</b> art. 6(1)(b) and (f) GDPR — steps you ask for before taking part, "
        "and FSM's legitimate interest in running the programme; your consent (art. 6(1)(a)) "
        "for news about future editions.\n"
        "<b>Recipients:</b> FSM staff and its partners ZMP and ZGWRP; the host or intern you "
        "are matched with (name, role and contact only); our hosting provider; Telegram, "
        "through which we talk. The Ministry of Foreign Affairs, which funds the programme, "
        "receives reports.\n"
        "<b>Retention:</b> until the edition ends and its grant is settled, then the data is "
        "deleted or anonymised.\n"
        "<b>Your rights:</b> access (/mydata), rectification, erasure (/delete), restriction, "
        "objection and portability; you may withdraw consent at any time. You may also "
        "complain to the President of the Personal Data Protection Office (Prezes UODO), "
        "ul. Stawki 2, 00-193 Warszawa.\n\n"
        "Giving your data is voluntary, but without it we cannot consider your application."
    ).format(contact=contact)


def help_text() -> str:
    return _(
        "<b>WIN4UA bot</b>\n"
        "Here Polish local governments apply to host an intern from a Ukrainian hromada, "
        "and interns register for the programme.\n\n"
        "/start — start or continue\n"
        "/meetings — information meetings: dates and your booking\n"
        "/language — change language\n"
        "/cancel — stop the current step\n"
        "/mydata — the data we hold about you\n"
        "/delete — delete your data\n"
        "/help — this message"
    )
