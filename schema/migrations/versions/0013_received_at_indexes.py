"""received_at indexes: a client polling for what is new reads a range, not the table

GraphQL's `receivedAt: {from}` filter with `orderBy: RECEIVED_AT` (notices, transactions,
penalties) is how a mirror fetches what arrived since its last poll; the export also finds
late arrivals (received on a day, published before it) by receipt time. Without an index
both scan the table: ~0.6 s a poll at a million transactions.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-04 20:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("notices", "transactions", "penalty_records")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_received_at", table, ["received_at"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_received_at", table_name=table)
