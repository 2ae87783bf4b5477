"""Invites and matching against a real database."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.services import invites, matching, people
from db.models import Application, Outbox

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)


async def test_codes_are_unguessable_and_fit_telegram(session) -> None:
    async with session.begin():
        created = await invites.create(session, 200)
    codes = {invite.code for invite in created}
    assert len(codes) == 200
    assert all(re.fullmatch(r"inv-[A-Za-z0-9_-]{20}", code) for code in codes)
    assert invites.deep_link("@win4ua_bot", "inv-x") == "https://t.me/win4ua_bot?start=inv-x"


async def test_redeem_states(session) -> None:
    async with session.begin():
        owner = await people.on_contact(session, 1)
        other = await people.on_contact(session, 2)
        [invite] = await invites.create(session, 1)
        assert (await invites.redeem(session, owner, invite.code, NOW)).status == "ok"
        assert (await invites.redeem(session, owner, invite.code, NOW)).status == "ok"
        assert (await invites.redeem(session, other, invite.code, NOW)).status == "used"
        assert (await invites.redeem(session, other, "inv-" + "x" * 20, NOW)).status == "unknown"
        assert (await invites.redeem(session, other, "'; DROP TABLE invite; --", NOW)).status == (
            "unknown")
        [second] = await invites.create(session, 1)
        assert await invites.revoke(session, second.code, NOW)
        assert not await invites.revoke(session, second.code, NOW)
        assert (await invites.redeem(session, other, second.code, NOW)).status == "revoked"
        assert (await invites.invite_of(session, owner)).code == invite.code
        assert await invites.invite_of(session, other) is None


async def _application(session, telegram_id: int, audience: str, answers: dict,
                       status: str = "eligible") -> Application:
    person = await people.on_contact(session, telegram_id)
    application = Application(person_id=person.id, programme_id="p", audience=audience,
                              answers=answers, status=status, editing=False, needs_review=False,
                              submitted_at=NOW)
    session.add(application)
    await session.flush()
    return application


async def test_suggestions_rank_overlap_then_availability(session) -> None:
    async with session.begin():
        intern = await _application(session, 1, "intern", {"interests": ["a", "b", "c"]})
        other_intern = await _application(session, 2, "intern", {"interests": ["a"]})
        busy = await _application(session, 10, "municipality", {"experience_areas": ["a", "b"]})
        free = await _application(session, 11, "municipality", {"experience_areas": ["a", "b"]})
        one = await _application(session, 12, "municipality", {"experience_areas": ["c"]})
        await _application(session, 13, "municipality", {"experience_areas": ["a", "b", "c"]},
                           status="ineligible")
        await matching.match(session, other_intern.id, busy.id, NOW)
        ranked = await matching.suggestions(session, intern)
    assert [s.host.id for s in ranked] == [free.id, busy.id, one.id]
    assert ranked[0].overlap == ["a", "b"] and ranked[1].interns == 1


async def test_match_rules_and_notices(session) -> None:
    async with session.begin():
        intern = await _application(session, 1, "intern", {"interests": []})
        host = await _application(session, 10, "municipality", {})
        no = await _application(session, 11, "municipality", {}, status="ineligible")
        for intern_id, host_id, code in ((host.id, host.id, "no_intern"),
                                         (intern.id, intern.id, "no_host"),
                                         (intern.id, no.id, "not_eligible"),
                                         (intern.id, 999, "no_host")):
            with pytest.raises(matching.MatchError) as caught:
                await matching.match(session, intern_id, host_id, NOW)
            assert caught.value.code == code
        await matching.match(session, intern.id, host.id, NOW)
        with pytest.raises(matching.MatchError):
            await matching.match(session, intern.id, host.id, NOW)
        await matching.unmatch(session, intern.id, NOW)
        with pytest.raises(matching.MatchError):
            await matching.unmatch(session, intern.id, NOW)
        await matching.match(session, intern.id, host.id, NOW)  # again, after unmatching
    kinds = (await session.scalars(select(Outbox.kind).order_by(Outbox.id))).all()
    assert kinds == ["match.created"] * 2 + ["match.ended"] * 2 + ["match.created"] * 2
