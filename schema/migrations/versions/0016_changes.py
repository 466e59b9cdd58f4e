"""changes (the change feed) and mirror_cursors; the feed backfilled from stored records

Every record a hub holds gets its `insert` change, oldest arrival first, so a hub that
already holds records can be mirrored (and, later, pushed upstream) from the start.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BACKFILL = """
INSERT INTO changes (kind, record_id, action, publisher_id, source_site, accepted_at,
                     content_hash, ocid)
SELECT kind, record_id, 'insert', publisher_id, source_site, accepted_at, content_hash, ocid
FROM (
    SELECT 'notice' AS kind, id AS record_id, publisher_id, source_site,
           received_at AS accepted_at, content_hash, ocid FROM notices
    UNION ALL
    SELECT 'transaction', id, publisher_id, source_site, received_at, content_hash, NULL
    FROM transactions
    UNION ALL
    SELECT 'penalty', id, publisher_id, source_site, received_at, content_hash, ocid
    FROM penalty_records
) AS held
ORDER BY accepted_at, kind, record_id
"""


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade() -> None:
    """Idempotent: a database made by `create_all` at a later head and stamped back (as the
    tests of older migrations do) already has the tables."""
    present = _tables()
    if "changes" not in present:
        _create_changes()
    if "mirror_cursors" not in present:
        _create_mirror_cursors()
    if op.get_bind().execute(sa.text("SELECT count(*) FROM changes")).scalar() == 0:
        op.execute(BACKFILL)


def _create_changes() -> None:
    op.create_table(
        "changes",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True,
                  comment="变更序号: Monotonic change number, never reused: the feed's cursor."),
        sa.Column("kind", sa.String(), nullable=False,
                  comment="记录类别: notice, transaction or penalty."),
        sa.Column("record_id", sa.Integer(), nullable=False,
                  comment="记录内部编号: Id of the stored row in notices, transactions or "
                  "penalty_records."),
        sa.Column("action", sa.String(), nullable=False,
                  comment="变更类型: insert (a new record) or source (a new source of one)."),
        sa.Column("publisher_id", sa.Integer(), sa.ForeignKey("publishers.id"), nullable=False,
                  comment="发布者: The account that delivered the record."),
        sa.Column("source_site", sa.String(), nullable=True, comment="来源网站: Site it came from."),
        sa.Column("accepted_at", sa.DateTime(), nullable=False,
                  comment="接收时间: When the hub accepted it (UTC+8)."),
        sa.Column("content_hash", sa.String(), nullable=False,
                  comment="内容摘要: The record's content hash."),
        sa.Column("ocid", sa.String(), nullable=True,
                  comment="开放缔约标识OCID: The project, when the record names one."),
        sqlite_autoincrement=True,
    )  # fmt: skip
    op.create_index("ix_changes_kind_seq", "changes", ["kind", "seq"])
    op.create_index("ix_changes_kind_record", "changes", ["kind", "record_id"])


def _create_mirror_cursors() -> None:
    op.create_table(
        "mirror_cursors",
        sa.Column("url", sa.String(), primary_key=True,
                  comment="来源地址: Base URL of the hub mirrored."),
        sa.Column("cursor", sa.String(), nullable=False,
                  comment="游标: The feed cursor after the last change ingested."),
        sa.Column("updated_at", sa.DateTime(), nullable=False,
                  comment="更新时间: When the cursor last moved (UTC+8)."),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("mirror_cursors")
    op.drop_index("ix_changes_kind_record", table_name="changes")
    op.drop_index("ix_changes_kind_seq", table_name="changes")
    op.drop_table("changes")
