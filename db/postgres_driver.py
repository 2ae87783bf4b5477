"""On PostgreSQL, one more statement rides with the COMMIT, as on SQLite.

The bot records each update's id in the update's own transaction, as the last thing it does
(`db.repositories.updates.seal`): a redelivered update then finds its id taken and keeps
nothing. Sent on its own, that INSERT is a round trip to the server per update, between the
update's work and its COMMIT. Here it goes in the same trip as the COMMIT: asyncpg sends the
two as one simple query, "INSERT …; COMMIT;". If the id was recorded before, the INSERT fails
on the primary key, PostgreSQL runs nothing after it in that query (the COMMIT included) and
the transaction is aborted; the transaction is then rolled back and `commit()` raises what
the guard says (AlreadyProcessed), exactly as the SQLite driver does.

`GuardedConnection` is asyncpg's connection, given to asyncpg with `connection_class` (see
`db.engine`); its transactions are asyncpg's own but for that one step of `commit()`. The
state it sets is the state asyncpg's `commit()` and `rollback()` set. A nested transaction (a
savepoint) or one with no guard commits as asyncpg always does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from asyncpg.transaction import Transaction, TransactionState


class GuardedTransaction(Transaction):
    _state: TransactionState  # asyncpg's, declared in its __slots__ without a type

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._guard: tuple[str, str, Callable[[], Exception]] | None = None

    async def commit(self) -> None:
        guard, self._guard = self._guard, None
        if (
            guard is None
            or self._nested
            or self._managed
            or self._state is not TransactionState.STARTED  # asyncpg's own error for that
        ):
            await super().commit()
            return
        sql, table, rejected = guard
        connection = self._connection
        if connection._top_xact is self:
            connection._top_xact = None
        try:
            await connection.execute(f"{sql}; COMMIT;")
        except asyncpg.UniqueViolationError as error:
            if error.table_name != table:
                self._state = TransactionState.FAILED
                raise
            try:
                await connection.execute("ROLLBACK;")
            except BaseException:
                self._state = TransactionState.FAILED
                raise
            self._state = TransactionState.ROLLEDBACK
            raise rejected() from None
        except BaseException:
            self._state = TransactionState.FAILED
            raise
        self._state = TransactionState.COMMITTED

    async def rollback(self) -> None:
        self._guard = None
        await super().rollback()


class GuardedConnection(asyncpg.Connection):
    def transaction(
        self,
        *,
        isolation: str | None = None,
        readonly: bool = False,
        deferrable: bool = False,
    ) -> GuardedTransaction:
        self._check_open()
        return GuardedTransaction(self, isolation, readonly, deferrable)

    def guard_commit(self, sql: str, table: str, rejected: Callable[[], Exception]) -> bool:
        """Run `sql` (one INSERT into `table`, its values written in) in the COMMIT's trip.

        If it fails on a unique key of `table`, the transaction is rolled back instead and
        `commit()` raises `rejected()`. False, and nothing is set, when no transaction of ours
        is running: the caller runs its statement itself.
        """
        transaction = self._top_xact
        if (
            not isinstance(transaction, GuardedTransaction)
            or transaction._state is not TransactionState.STARTED
            or transaction._managed
        ):
            return False
        transaction._guard = (sql, table, rejected)
        return True
