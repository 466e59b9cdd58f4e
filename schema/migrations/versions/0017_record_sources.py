"""record_sources: every delivery of a record, directly or relayed (转发), with its path

Issue 17 (federation): a record reaches a hub from its publisher and from the sites that
relay it; each delivery keeps the original publisher, the site and time of first
publication and the hops it passed. Records already held get one row per delivery, from
what they stored (a notice one per notice_sources row, with that row's site); as a direct
publish does now, each delivering account is its own original publisher. Their path before
this hub is unknown: their hops are `[]`.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
INSERT INTO record_sources (kind, record_id, publisher_id, original_publisher, original_role,
                            source_site, first_published_at, received_at, hops)
SELECT {kind}, r.id, {delivered}, p.name, p.role, {site}, r.published_at,
       {received}, '[]'
FROM {table} r {join} JOIN publishers p ON p.id = {delivered}
ORDER BY r.id
"""


def upgrade() -> None:
    """Idempotent: a database made by `create_all` at a later head and stamped back (as the
    tests of older migrations do) has the table, and its rows, already."""
    if sa.inspect(op.get_bind()).has_table("record_sources"):
        return
    op.create_table(
        "record_sources",
        sa.Column("id", sa.Integer(), nullable=False, comment="编号: Internal id."),
        sa.Column(
            "kind", sa.String(), nullable=False, comment="记录类别: notice, transaction or penalty."
        ),
        sa.Column(
            "record_id",
            sa.Integer(),
            nullable=False,
            comment="记录内部编号: Internal id of the record in notices, transactions or "
            "penalty_records.",
        ),
        sa.Column(
            "publisher_id",
            sa.Integer(),
            nullable=False,
            comment="发布者: The account that delivered it to this hub.",
        ),
        sa.Column(
            "original_publisher",
            sa.String(),
            nullable=False,
            comment="原始发布者: Name of the publisher that first published it (itself when "
            "direct).",
        ),
        sa.Column(
            "original_role",
            sa.String(),
            nullable=False,
            comment="原始发布者角色: Role of the original publisher (finance_department, …).",
        ),
        sa.Column(
            "source_site",
            sa.String(),
            nullable=True,
            comment="来源网站: The site it was first published on.",
        ),
        sa.Column(
            "first_published_at",
            sa.DateTime(),
            nullable=False,
            comment="首次发布时间: When it was first published (UTC+8).",
        ),
        sa.Column(
            "received_at",
            sa.DateTime(),
            nullable=False,
            comment="接收时间: When this hub received it (UTC+8).",
        ),
        sa.Column(
            "hops",
            sa.Text(),
            nullable=False,
            comment="转发路径: JSON list of {hub, receivedAt}: the hubs it passed, this hub's "
            "arrival last.",
        ),
        sa.ForeignKeyConstraint(["publisher_id"], ["publishers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "record_id", "publisher_id"),
    )
    op.create_index("ix_record_sources_original", "record_sources", ["kind", "original_publisher"])
    op.execute(BACKFILL.format(
        kind="'notice'", table="notices", delivered="s.publisher_id", site="s.source_site",
        received="s.received_at",
        join="JOIN notice_sources s ON s.notice_id = r.id",
    ))  # fmt: skip
    for kind, table in (("transaction", "transactions"), ("penalty", "penalty_records")):
        op.execute(BACKFILL.format(
            kind=f"'{kind}'", table=table, delivered="r.publisher_id", site="r.source_site",
            received="r.received_at",
            join="",
        ))  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_record_sources_original", table_name="record_sources")
    op.drop_table("record_sources")
