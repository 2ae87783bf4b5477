"""bookings carry their event's kind: one active booking per person, programme and kind

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 08:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.add_column("booking", sa.Column("kind", sa.String(length=20), nullable=True))
    op.execute(
        "UPDATE booking SET kind = (SELECT event.kind FROM event WHERE event.id = booking.event_id)"
    )
    with op.batch_alter_table("booking") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=20), nullable=False)
    op.drop_index("uq_booking_one_seat", table_name="booking")
    op.create_index(
        "uq_booking_one_seat",
        "booking",
        ["person_id", "programme_id", "kind"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    # Going back to one seat per programme: of a person's active bookings in a programme,
    # the oldest keeps its seat only if the others are cancelled first — left to staff; the
    # index is recreated as it was and fails loudly if such bookings exist.
    op.drop_index("uq_booking_one_seat", table_name="booking")
    with op.batch_alter_table("booking") as batch:
        batch.drop_column("kind")
    op.create_index(
        "uq_booking_one_seat",
        "booking",
        ["person_id", "programme_id"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
