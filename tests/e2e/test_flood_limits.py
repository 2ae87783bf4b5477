"""Immediate replies within Telegram's limits (issue 21, item 11), on the fake server with a
per-chat flood limit on: the broadcast preview gets through, a 429 on a reply is waited out,
a callback query is answered once, and an unchanged progress card is not edited."""

from __future__ import annotations

from bot.broadcast_watch import watch_broadcasts
from tests.e2e.test_staff import ready, staff_user

WRONG = "Something went wrong"


async def test_the_preview_gets_through_a_per_chat_flood_limit(bot, tg, user_factory) -> None:
    staff = staff_user(tg)
    await ready(bot, staff)
    await ready(bot, user_factory("pl"), "pl")
    await staff.send("/broadcast")
    await staff.press("Everyone")
    await staff.send("Spotkanie przeniesione.")
    await staff.press("Next")
    await staff.send("Зустріч перенесено.")
    await staff.press("Next")
    await staff.send("The meeting has moved.")
    await staff.press("Next")
    await staff.press("Polski")  # the fallback language
    tg.set_rate_limit(per_chat_per_s=1)  # Telegram: about a message a second to one chat
    await staff.press("No attachment")  # on to the preview
    texts = [m.text for m in staff.messages()]
    assert not [t for t in texts if WRONG in t]
    assert "Ready to send" in texts[-1]
    assert [t.split("\n")[0] for t in texts[-4:-1]] == [
        "Preview of the Polish text:", "Preview of the Ukrainian text:",
        "Preview of the English text:"]
    previews = [c for c in tg.calls("sendMessage", chat_id=staff.chat_id)
                if "Preview" in str(c.params.get("text"))]
    assert len([c for c in previews if c.ok]) == 3  # one message a language


async def test_a_reply_refused_with_429_is_sent_after_retry_after(bot, tg, user_factory) -> None:
    user = user_factory("pl")
    await ready(bot, user, "pl")
    tg.fail_next("sendMessage", 429, retry_after=1, chat_id=user.chat_id)
    await user.send("/help")
    replies = tg.calls("sendMessage", chat_id=user.chat_id)
    assert [c.response_status for c in replies] == [429, 200]
    assert replies[1].time - replies[0].time >= 1.0
    assert WRONG not in user.last_message().text


async def test_a_callback_is_answered_once_even_when_a_reply_is_refused(bot, tg,
                                                                        user_factory) -> None:
    user = user_factory("pl")
    await ready(bot, user, "pl")
    await user.send("/help")
    tg.fail_next("sendMessage", 429, retry_after=30, chat_id=user.chat_id)  # too long to wait
    tg.fail_next("editMessageText", 429, retry_after=30, chat_id=user.chat_id)
    await user.press_data("mb:cancel_yes:1")  # a stale button: a toast, then nothing more
    await user.press_data("lang:pl")
    answers = tg.calls("answerCallbackQuery")
    assert all(c.ok for c in answers), [c.description for c in answers]
    ids = [c.params["callback_query_id"] for c in answers]
    assert len(ids) == len(set(ids)) == 2


async def test_an_unchanged_progress_card_is_not_edited(bot, tg, clock) -> None:
    from tests.e2e.test_broadcast import start_broadcast

    staff = staff_user(tg)
    await ready(bot, staff)
    await start_broadcast(bot)
    shown: dict = {}  # as the scheduler passes it
    for _ in range(3):
        await watch_broadcasts(bot.bot, bot.sessionmaker, bot.i18n, clock, None, shown)
    edits = tg.calls("editMessageText", chat_id=staff.chat_id)
    assert not [c for c in edits if "not modified" in (c.description or "")]
    assert len(edits) <= 1
