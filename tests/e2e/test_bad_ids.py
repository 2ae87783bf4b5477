"""Out-of-range ids in callback data (issue 21, item 7): the stale-button answer, never the
generic error with a traceback (on PostgreSQL an id past INTEGER reached the database)."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.test_staff import ready, staff_user

HUGE = ("2147483648", "9223372036854775808", "-1", "99999999999999999999999")
SHAPES = (
    "mb:cancel_yes:{}", "mb:cancel:{}", "mb:take:{}", "mb:ics:{}", "mp:{}", "mw:{}",
    "se:show:{}", "se:cancel_yes:{}", "sa:{}:attended", "mi:{}", "mh:{}:1:1", "mh:1:{}:0",
    "bs:{}:everyone:", "bs:1:event:{}", "bw:{}:preview:", "bx:{}",
)


@pytest.mark.parametrize("who", ["person", "staff"])
async def test_out_of_range_ids_get_the_stale_button_answer(bot, tg, user_factory, caplog,
                                                            who) -> None:
    user = staff_user(tg) if who == "staff" else user_factory()
    await ready(bot, user, role="staff" if who == "staff" else None)
    if who == "staff":  # a draft of their own, so its segment buttons parse the event id
        await user.send("/broadcast")
        draft = next(d for row in user.last_message().callback_data for d in row
                     if d and d.startswith("bs:")).split(":")[1]
        shapes = (*SHAPES, f"bs:{draft}:event:{{}}")
    else:
        shapes = SHAPES
    await user.send("/help")
    sent_before = len(tg.calls("sendMessage", chat_id=user.user_id))
    pressed = 0
    with caplog.at_level(logging.INFO):
        for shape in shapes:
            for value in HUGE:
                data = shape.format(value)
                if len(data.encode()) > 64:
                    continue
                await user.press_data(data)
                pressed += 1
    answers = tg.callback_answers(user.user_id)
    assert len(answers) == pressed
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]
    assert len(tg.calls("sendMessage", chat_id=user.user_id)) == sent_before
