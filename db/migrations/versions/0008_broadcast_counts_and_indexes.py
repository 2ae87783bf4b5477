"""broadcast counts kept when its outbox rows are purged; indexes for the counts staff read

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:50:00

A finished broadcast's outbox rows are deleted after a retention period (a broadcast to
everyone is a row per person, each time); what they said — how many were sent, blocked,
failed, cancelled — stays on the broadcast. `outbox.broadcast_id` is indexed for the progress
card and /stats, which counted a broadcast's rows by reading the whole outbox;
`person.blocked_at` for the count of people who blocked the bot.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = ("sent_count", "blocked_count", "failed_count", "cancelled_count")


def upgrade() -> None:
    with op.batch_alter_table("broadcast") as batch:
        for name in COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("purged_at", db.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index("ix_outbox_broadcast", "outbox", ["broadcast_id", "status"])
    op.create_index("ix_person_blocked_at", "person", ["blocked_at"])


def downgrade() -> None:
    op.drop_index("ix_person_blocked_at", table_name="person")
    op.drop_index("ix_outbox_broadcast", table_name="outbox")
    with op.batch_alter_table("broadcast") as batch:
        batch.drop_column("purged_at")
        for name in reversed(COUNTS):
            batch.drop_column(name)
