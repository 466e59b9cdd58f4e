"""consistency flags

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), nullable=False, comment="标记编号: Internal flag id."),
        sa.Column(
            "code",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            comment="规则代码: Stable rule code, e.g. SINGLE_SOURCE_NO_PUBLICITY.",
        ),
        sa.Column(
            "severity",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            comment="严重程度: high, medium or low.",
        ),
        sa.Column("project_id", sa.Integer(), nullable=True, comment="项目: Project concerned."),
        sa.Column(
            "party_id", sa.Integer(), nullable=True, comment="主体: Party concerned (a supplier)."
        ),
        sa.Column(
            "transaction_id", sa.Integer(), nullable=True, comment="交易: Transaction concerned."
        ),
        sa.Column(
            "notice_ids",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=True,
            comment="相关公告: Comma-separated ids of the notices that triggered it.",
        ),
        sa.Column(
            "evidence",
            sa.Text(),
            nullable=False,
            comment="证据: JSON: the notices and fields that triggered it, with their values.",
        ),
        sa.Column("message", sa.Text(), nullable=False, comment="说明: What is wrong, in Chinese."),
        sa.Column(
            "legal_basis",
            sqlmodel.sql.sqltypes.AutoString(),
            nullable=False,
            comment="依据: One line citing the rule it checks.",
        ),
        sa.Column(
            "detected_at",
            sa.DateTime(),
            nullable=False,
            comment="发现时间: When it was computed (UTC+8).",
        ),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["transaction_id"], ["transactions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flags_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_party_id"), ["party_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_severity"), ["severity"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flags_transaction_id"), ["transaction_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flags_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_flags_severity"))
        batch_op.drop_index(batch_op.f("ix_flags_project_id"))
        batch_op.drop_index(batch_op.f("ix_flags_party_id"))
        batch_op.drop_index(batch_op.f("ix_flags_code"))
    op.drop_table("flags")
