"""one Telegram budget shared by the instances; one instance edits each progress card

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:20:00

Without Redis, instances that share PostgreSQL take their sends from these tables
(bot/budget_postgres.py): `send_slot` holds SEND_RATE slots, `send_chat` when each chat may be
written to again, `send_budget` a pause Telegram asked for. `broadcast.card_owner` and
`card_lease_until` name the one instance that edits a broadcast's progress card.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_budget",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("paused_until", db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_budget")),
    )
    op.create_table(
        "send_slot",
        sa.Column("n", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("free_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("n", name=op.f("pk_send_slot")),
    )
    op.create_table(
        "send_chat",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("free_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_send_chat")),
    )
    op.create_index(op.f("ix_send_chat_free_at"), "send_chat", ["free_at"])
    with op.batch_alter_table("broadcast") as batch:
        batch.add_column(sa.Column("card_owner", sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column("card_lease_until", db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("broadcast") as batch:
        batch.drop_column("card_lease_until")
        batch.drop_column("card_owner")
    op.drop_index(op.f("ix_send_chat_free_at"), table_name="send_chat")
    op.drop_table("send_chat")
    op.drop_table("send_slot")
    op.drop_table("send_budget")
