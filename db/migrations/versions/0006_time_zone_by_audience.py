"""a person's time zone comes with their audience (interns Kyiv, hosts Warsaw), not their language

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:30:00

Until now the zone was set from the language chosen first, so an intern reading Polish read
Warsaw time and a host reading Ukrainian Kyiv time. The zones below are the 2026 programme
file's (audiences.*.time_zone); people without an application (staff) get none, which means the
programme's own zone. Data only: the schema does not change.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE person SET time_zone = CASE "
        "WHEN EXISTS (SELECT 1 FROM application a WHERE a.person_id = person.id "
        "AND a.audience = 'intern') THEN 'Europe/Kyiv' "
        "WHEN EXISTS (SELECT 1 FROM application a WHERE a.person_id = person.id "
        "AND a.audience = 'municipality') THEN 'Europe/Warsaw' "
        "ELSE NULL END"
    )


def downgrade() -> None:
    # Back to the zone of the language, as the code of revision 0005 set it.
    op.execute(
        "UPDATE person SET time_zone = CASE WHEN language = 'uk' THEN 'Europe/Kyiv' "
        "WHEN language IS NULL THEN NULL ELSE 'Europe/Warsaw' END"
    )
