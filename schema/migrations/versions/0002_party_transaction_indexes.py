"""A party's transactions by date: (supplier_id | purchaser_id, order_date, id)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transactions_supplier_date", ["supplier_id", "order_date", "id"], unique=False
        )
        batch_op.create_index(
            "ix_transactions_purchaser_date", ["purchaser_id", "order_date", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_transactions_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_transactions_purchaser_id"))


def downgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transactions_purchaser_id"), ["purchaser_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transactions_supplier_id"), ["supplier_id"], unique=False
        )
        batch_op.drop_index("ix_transactions_purchaser_date")
        batch_op.drop_index("ix_transactions_supplier_date")
