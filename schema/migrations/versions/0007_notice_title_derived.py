"""notices.title_derived: a title-less release's display title is derived and marked so

Revision ID: 0007
Revises: 0010
Create Date: 2026-12-04 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_TITLE = "公告标题: Notice title."
NEW_TITLE = "公告标题: Notice title; derived when the release has none."


def upgrade() -> None:
    # Not in batch mode: on SQLite that copies `notices`, which other tables refer to; a
    # plain ADD COLUMN with a default is enough, and every stored notice had its own title.
    op.add_column(
        "notices",
        sa.Column(
            "title_derived",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
            comment="标题为推导: True when the release had no title: the title shown is the "
            "project's title and the notice type's label.",
        ),
    )
    if op.get_context().dialect.name == "postgresql":  # SQLite keeps no column comments
        op.alter_column(
            "notices", "title", existing_type=sa.String(), existing_nullable=False,
            comment=NEW_TITLE, existing_comment=OLD_TITLE,
        )  # fmt: skip


def downgrade() -> None:
    op.drop_column("notices", "title_derived")  # SQLite ≥ 3.35 drops it without a copy
    if op.get_context().dialect.name == "postgresql":
        op.alter_column(
            "notices", "title", existing_type=sa.String(), existing_nullable=False,
            comment=OLD_TITLE, existing_comment=NEW_TITLE,
        )  # fmt: skip
