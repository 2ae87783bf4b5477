"""The audit log of refusals is bounded (issue 21, item 6): a person pressing forged buttons
by the thousand adds one row per kind of refusal and hour, with the count."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.models import AuditLog
from tests.e2e.test_staff import ready

PRESSES = 2_000


@pytest.mark.slow  # 2,000 updates: run by the locked suites, not again by `make test-latest`
async def test_two_thousand_forged_presses_fold_into_a_few_rows(bot, tg, user_factory) -> None:
    user = user_factory()
    await ready(bot, user)
    await user.send("/help")
    async with bot.sessionmaker() as session:
        rows_before = await session.scalar(select(func.count()).select_from(AuditLog))
    shapes = ("mb:cancel_yes:{}", "mb:take:{}", "se:cancel_yes:{}", "bx:{}", "mi:{}")
    for n in range(PRESSES):
        await user.press_data(shapes[n % len(shapes)].format(1_000 + n))
    assert len(tg.callback_answers(user.user_id)) == PRESSES  # every press answered
    async with bot.sessionmaker() as session:
        rows = (await session.scalars(
            select(AuditLog).where(AuditLog.id > 0).order_by(AuditLog.id))).all()
    new = rows[rows_before:]
    # One row per kind of refusal (a stale own-action, a staff action) and hour: two hours at
    # most if the run crosses the hour.
    kinds = {row.action for row in new}
    assert len(new) <= 2 * len(kinds) and kinds <= {"action.refused", "staff.denied"}
    assert sum(row.count for row in new) == PRESSES
    assert all(not row.allowed and len(row.detail["samples"]) <= 8 for row in new)
