"""places: other spellings to search by (Polish exonym and transcription, English forms)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 15:30:00

The reference loader fills `name_forms` on the next start: the recorded sha256 of each
Ukrainian dataset is cleared here so the unchanged files are loaded again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UKRAINIAN = "('ua_hromadas', 'ua_hromadas_crimea_and_special_cities', 'ua_settlements')"


def upgrade() -> None:
    for table in ("hromada", "settlement"):
        op.add_column(
            table, sa.Column("name_forms", sa.String(length=400), nullable=False, server_default="")
        )
    op.execute(f"DELETE FROM reference_dataset WHERE name IN {UKRAINIAN}")


def downgrade() -> None:
    for table in ("hromada", "settlement"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("name_forms")
