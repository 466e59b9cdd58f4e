"""SQLite: transaction times written to the second get their six places

Before the bulk insert wrote times as SQLAlchemy binds them, a transaction's publish or
receipt time to the second was stored as `2024-03-01 10:00:00`, which sorts before the bound
`2024-03-01 10:00:00.000000`: a `publishedAt`/`receivedAt` range starting at that second
missed the row, and keyset paging over rows sharing that second skipped or repeated some.
Rewrites those values in place; PostgreSQL stores timestamps, not text, and is untouched.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The times the transactions' bulk insert wrote itself (hub.publishing.dialect).
COLUMNS = ("published_at", "received_at")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for column in COLUMNS:
        op.execute(
            f"UPDATE transactions SET {column} = {column} || '.000000' WHERE length({column}) = 19"
        )


def downgrade() -> None:
    """Nothing to undo: six places are what every other write stores."""
