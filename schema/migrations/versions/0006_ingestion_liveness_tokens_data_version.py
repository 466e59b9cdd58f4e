"""ingestion liveness and digest, token rotation, data version

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 14:00:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUS = "状态: running, accepted, rejected, partial or failed."
NEW_STATUS = (
    "状态: running, then accepted, partial, rejected, failed (the error in report) or "
    "interrupted (its process ended mid-batch; nothing of it was written)."
)


def upgrade() -> None:
    op.create_table(
        "data_version",
        sa.Column(
            "id", sa.Integer(), nullable=False, comment="编号: Always 1: the table holds one row."
        ),
        sa.Column(
            "version",
            sa.BigInteger(),
            nullable=False,
            comment="数据版本: Bumped by every write that changes what a query can answer "
            "(ingest, publishers, flags).",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    # A random start: two databases served in turn at one address (a demo made afresh) never
    # share a version, so an ETag from one is never taken for the other's.
    op.execute(f"INSERT INTO data_version (id, version) VALUES (1, {secrets.randbits(40)})")
    with op.batch_alter_table("ingestions") as batch:
        batch.alter_column(
            "status", existing_type=sqlmodel.sql.sqltypes.AutoString(), existing_nullable=False,
            comment=NEW_STATUS, existing_comment=OLD_STATUS,
        )  # fmt: skip
        batch.add_column(
            sa.Column(
                "total",
                sa.Integer(),
                nullable=False,
                server_default="0",
                comment="读取数: Records read.",
            )
        )
        batch.add_column(
            sa.Column(
                "digest",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=True,
                comment="批次摘要: SHA-256 of the batch: a file's bytes, or the records as NDJSON "
                "(GraphQL).",
            )
        )
        batch.add_column(
            sa.Column(
                "host",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=True,
                comment="主机: Host name of the ingesting process.",
            )
        )
        batch.add_column(
            sa.Column(
                "pid",
                sa.Integer(),
                nullable=True,
                comment="进程号: Process id of the ingesting process.",
            )
        )
        batch.add_column(
            sa.Column(
                "process_started",
                sa.BigInteger(),
                nullable=True,
                comment="进程启动: Start of the ingesting process (clock ticks since boot): tells "
                "a reused pid apart.",
            )
        )
    with op.batch_alter_table("ingestions") as batch:
        batch.alter_column("total", server_default=None, existing_type=sa.Integer())
    with op.batch_alter_table("publishers") as batch:
        batch.add_column(
            sa.Column(
                "previous_token_hash",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=True,
                comment="旧令牌摘要: SHA-256 of the token replaced by the last rotation; valid "
                "until its expiry.",
            )
        )
        batch.add_column(
            sa.Column(
                "previous_token_expires_at",
                sa.DateTime(),
                nullable=True,
                comment="旧令牌失效时间: When the replaced token stops working (UTC+8): the "
                "rotation's grace period.",
            )
        )
        batch.create_index(
            batch.f("ix_publishers_previous_token_hash"), ["previous_token_hash"], unique=True
        )


def downgrade() -> None:
    # Not in batch mode: on SQLite that copies `publishers`, which other tables refer to.
    op.drop_index("ix_publishers_previous_token_hash", table_name="publishers")
    op.drop_column("publishers", "previous_token_expires_at")
    op.drop_column("publishers", "previous_token_hash")
    with op.batch_alter_table("ingestions") as batch:
        for column in ("process_started", "pid", "host", "digest", "total"):
            batch.drop_column(column)
        batch.alter_column(
            "status", existing_type=sqlmodel.sql.sqltypes.AutoString(), existing_nullable=False,
            comment=OLD_STATUS, existing_comment=NEW_STATUS,
        )  # fmt: skip
    op.drop_table("data_version")
