"""flags.detected_at: the time a finding was first made, kept while it stands

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "发现时间: When it was computed (UTC+8)."
NEW = "发现时间: When the finding was first made (UTC+8); kept while it stands."


def _comment(text: str, previous: str) -> None:
    with op.batch_alter_table("flags") as batch:
        batch.alter_column(
            "detected_at", existing_type=sa.DateTime(), existing_nullable=False,
            comment=text, existing_comment=previous,
        )  # fmt: skip


def upgrade() -> None:
    _comment(NEW, OLD)


def downgrade() -> None:
    _comment(OLD, NEW)
