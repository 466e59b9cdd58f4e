"""transactions (model, order_date, id): a model's latest purchases without a scan

The transactions page charts the unit prices of one model over its latest purchases. It
used to find them through a second full-text search per page view; this index makes it one
bounded range read.

Revision ID: 0012
Revises: 0006
Create Date: 2026-12-04 17:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_transactions_model_date", "transactions", ["model", "order_date", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_model_date", table_name="transactions")
