"""upstreams and push_parked: the hubs this hub pushes to, and the changes they refused

Issue 17 (federation, design §3): the change feed is the queue; an upstream keeps the last
change seq it acknowledged, its token stays in a file outside the database.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Idempotent: a database made by `create_all` at a later head and stamped back has the
    tables already."""
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "upstreams" not in present:
        op.create_table(
            "upstreams",
            sa.Column("id", sa.Integer(), primary_key=True, comment="编号: Internal id."),
            sa.Column("name", sa.String(), nullable=False, unique=True,
                      comment="上级平台名称: Name the operator gave the upstream."),
            sa.Column("url", sa.String(), nullable=False,
                      comment="上级平台地址: Base URL of the upstream hub."),
            sa.Column("token_file", sa.String(), nullable=False,
                      comment="令牌文件: Path of the file holding the token; the token itself "
                      "is never stored."),
            sa.Column("kinds", sa.String(), nullable=False,
                      comment="推送类别: Comma list of the record kinds pushed."),
            sa.Column("cursor", SEQ, nullable=False,
                      comment="推送游标: Last change seq the upstream acknowledged (0: from the "
                      "start)."),
            sa.Column("paused_at", sa.DateTime(), nullable=True,
                      comment="暂停时间: When pushing was paused (UTC+8); empty while it runs."),
            sa.Column("created_at", sa.DateTime(), nullable=False,
                      comment="创建时间: When the upstream was added (UTC+8)."),
            sa.Column("last_error", sa.Text(), nullable=True,
                      comment="最近错误: The last push failure, cleared by the next success."),
            sa.Column("last_pushed_at", sa.DateTime(), nullable=True,
                      comment="最近推送时间: When the upstream last acknowledged a batch "
                      "(UTC+8)."),
        )  # fmt: skip
    if "push_parked" not in present:
        op.create_table(
            "push_parked",
            sa.Column("id", sa.Integer(), primary_key=True, comment="编号: Internal id."),
            sa.Column("upstream_id", sa.Integer(), sa.ForeignKey("upstreams.id"),
                      nullable=False, comment="上级平台: The upstream that refused it."),
            sa.Column("seq", SEQ, nullable=False, comment="变更序号: The change refused."),
            sa.Column("kind", sa.String(), nullable=False,
                      comment="记录类别: notice, transaction or penalty."),
            sa.Column("record_id", sa.Integer(), nullable=False,
                      comment="记录内部编号: Id of the stored record."),
            sa.Column("reason", sa.Text(), nullable=False,
                      comment="拒绝原因: The upstream's reason, field named."),
            sa.Column("parked_at", sa.DateTime(), nullable=False,
                      comment="搁置时间: When it was parked (UTC+8)."),
            sa.UniqueConstraint("upstream_id", "seq"),
        )  # fmt: skip


def downgrade() -> None:
    op.drop_table("push_parked")
    op.drop_table("upstreams")
