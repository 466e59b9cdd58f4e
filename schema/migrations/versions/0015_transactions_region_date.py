"""transactions (region_code, order_date) INCLUDE (quantity, amount, unit_price)

A region's transaction statistics by month (the most common aggregate: a county's spending)
read the whole table's pages through the single-column region index: 34k rows of the
largest county were 29k heap pages on the 1M-row bench data, ~60 ms of PostgreSQL CPU a
request. Covering the aggregated columns makes it an index-only scan (bench/RESULTS.md,
issue 16). The new index leads with region_code, so the old single-column one goes. SQLite
has no INCLUDE: there it is (region_code, order_date).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _indexes() -> set[str]:
    return {str(i["name"]) for i in sa.inspect(op.get_bind()).get_indexes("transactions")}


def upgrade() -> None:
    """Idempotent: a database made by `create_all` at a later head and stamped back (as the
    tests of older migrations do) already has the new index and lacks the old one."""
    present = _indexes()
    if "ix_transactions_region_date" not in present:
        op.create_index(
            "ix_transactions_region_date",
            "transactions",
            ["region_code", "order_date"],
            unique=False,
            postgresql_include=["quantity", "amount", "unit_price"],
        )
    if "ix_transactions_region_code" in present:
        op.drop_index("ix_transactions_region_code", table_name="transactions")


def downgrade() -> None:
    op.create_index("ix_transactions_region_code", "transactions", ["region_code"], unique=False)
    op.drop_index("ix_transactions_region_date", table_name="transactions")
