"""search outbox and indexer state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            comment="变更编号: Monotonic change id; drained in this order.",
        ),
        sa.Column(
            "kind",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            comment="记录类别: Search kind: notice, transaction, party or penalty.",
        ),
        sa.Column(
            "record_pk",
            sa.Integer(),
            nullable=False,
            comment="记录内部编号: Internal id of the changed record.",
        ),
        sa.Column(
            "op",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            comment="操作: upsert or delete.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(),
            nullable=False,
            comment="变更时间: When the change was written (UTC+8).",
        ),
        sa.Column(
            "attempts",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="尝试次数: Failed indexing attempts so far.",
        ),
        sa.Column(
            "last_error", sa.Text(), nullable=True, comment="最近错误: Why the last attempt failed."
        ),
        sa.Column(
            "parked_at",
            sa.DateTime(),
            nullable=True,
            comment="搁置时间: When the change was parked after too many failures; an operator retries it.",
        ),
        sa.Column(
            "claimed_until",
            sa.DateTime(),
            nullable=True,
            comment="认领截止: An indexer holds the change until then; also the earliest retry after a failure.",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "search_state",
        sa.Column(
            "name",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            comment="名称: What the entry records, e.g. rebuild.",
        ),
        sa.Column("value", sa.Text(), nullable=False, comment="内容: JSON value of the entry."),
        sa.Column(
            "updated_at",
            sa.DateTime(),
            nullable=False,
            comment="更新时间: Last heartbeat of the entry (UTC+8).",
        ),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("search_state")
    op.drop_table("search_outbox")
