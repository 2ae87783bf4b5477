"""The questionnaire's writes to an application: one UPDATE statement, not a unit-of-work flush.

Nearly every update changes the sender's application (an answer, where they are, the verdict).
Left to the ORM, the change is found and written by the session's flush at commit, whose
bookkeeping (collecting dirty objects, sorting them, diffing attribute histories) costs more
CPU than SQLite takes to run the UPDATE itself.

`change` sets the values on the object as already committed, so the ORM sees nothing to
flush, and notes the application; `write` sends the noted ones as one prebuilt UPDATE each,
every questionnaire column from the object as it is now. Callers `write` right after a change,
so later statements in the same transaction read the new values; anything still noted when
the transaction commits is written then (`install`), so a change is never lost, and a
rollback drops the notes with the transaction. An application that is not in the database
yet (being inserted) takes its values with the INSERT, as before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, event, inspect, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from db.base import utcnow
from db.models import Application

COLUMNS = (
    "answers",
    "current_question",
    "editing",
    "status",
    "eligibility_reasons",
    "needs_review",
    "submitted_at",
    "updated_at",
)

_table: Table = Application.__table__  # type: ignore[assignment]
_WRITE = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"))
    .values({name: bindparam(f"new_{name}", type_=_table.c[name].type) for name in COLUMNS})
)  # built once: it runs on almost every update

# session.info key: {id(application): application} changed by `change` and not written yet.
_UNWRITTEN = "applications.unwritten"


_WRITABLE = frozenset(COLUMNS)


def change(application: Application, **values: Any) -> None:
    """Set questionnaire columns of `application`; `write` (or the commit) stores them."""
    unknown = values.keys() - _WRITABLE
    if unknown:
        raise ValueError(f"not a questionnaire column of application: {sorted(unknown)}")
    values["updated_at"] = utcnow()
    for key, value in values.items():
        set_committed_value(application, key, value)
    state = inspect(application)
    if state.persistent and state.session is not None:
        state.session.info.setdefault(_UNWRITTEN, {})[id(application)] = application


def _write_unwritten(session: Session) -> None:
    """One UPDATE for each application changed and not written yet: every questionnaire column
    as the object has it now."""
    for application in session.info.pop(_UNWRITTEN, {}).values():
        parameters = {f"new_{name}": getattr(application, name) for name in COLUMNS}
        session.execute(_WRITE, {"row_id": application.id, **parameters})


async def write(session: AsyncSession) -> None:
    """Store the applications changed in this session so far."""
    if session.info.get(_UNWRITTEN):
        await session.run_sync(_write_unwritten)


def _forget(session: Session) -> None:
    session.info.pop(_UNWRITTEN, None)


def install(session_class: type[Session]) -> None:
    """Write what is left at commit; forget it on rollback. Once per session class."""
    if not event.contains(session_class, "before_commit", _write_unwritten):
        event.listen(session_class, "before_commit", _write_unwritten)
        event.listen(session_class, "after_rollback", _forget)
