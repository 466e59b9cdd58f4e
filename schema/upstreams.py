"""Upstream hubs this hub pushes its accepted records to (联网推送), and what they refused.

The queue is the change feed itself (`changes`): an upstream keeps only a cursor, the last
change seq it acknowledged, so a record accepted here is queued for every upstream in the
transaction that stores it. The token is never stored: `token_file` names where to read it
at each push (issue 17, design §3).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, Text, UniqueConstraint
from sqlmodel import SQLModel

from schema.columns import field, table_of
from schema.types import BeijingTime

Seq = BigInteger().with_variant(Integer(), "sqlite")


class Upstream(SQLModel, table=True):
    """A hub this one pushes to: the provincial hub of a platform, the central hub of a
    province."""

    __tablename__ = "upstreams"

    id: int | None = field("编号", "Internal id.", primary_key=True, public=False)
    name: str = field("上级平台名称", "Name the operator gave the upstream.", unique=True,
                      public=False)  # fmt: skip
    url: str = field("上级平台地址", "Base URL of the upstream hub.", public=False)
    token_file: str = field(
        "令牌文件", "Path of the file holding the token; the token itself is never stored.",
        public=False,
    )  # fmt: skip
    kinds: str = field("推送类别", "Comma list of the record kinds pushed.", public=False)
    cursor: int = field(
        "推送游标", "Last change seq the upstream acknowledged (0: from the start).",
        sa_type=Seq, default=0, public=False,
    )  # fmt: skip
    paused_at: BeijingTime | None = field(
        "暂停时间", "When pushing was paused (UTC+8); empty while it runs.", default=None,
        public=False,
    )  # fmt: skip
    created_at: BeijingTime = field("创建时间", "When the upstream was added (UTC+8).",
                                    public=False)  # fmt: skip
    last_error: str | None = field(
        "最近错误", "The last push failure, cleared by the next success.", default=None,
        sa_type=Text, public=False,
    )  # fmt: skip
    last_pushed_at: BeijingTime | None = field(
        "最近推送时间", "When the upstream last acknowledged a batch (UTC+8).", default=None,
        public=False,
    )  # fmt: skip


class PushParked(SQLModel, table=True):
    """A change the upstream refused: kept with its reason, never dropped silently; the
    cursor moves past it and `caigou pusher retry-parked` sends it again."""

    __tablename__ = "push_parked"
    __table_args__ = (UniqueConstraint("upstream_id", "seq"),)

    id: int | None = field("编号", "Internal id.", primary_key=True, public=False)
    upstream_id: int = field("上级平台", "The upstream that refused it.",
                             foreign_key="upstreams.id", public=False)  # fmt: skip
    seq: int = field("变更序号", "The change refused.", sa_type=Seq, public=False)
    kind: str = field("记录类别", "notice, transaction or penalty.", public=False)
    record_id: int = field("记录内部编号", "Id of the stored record.", public=False)
    reason: str = field("拒绝原因", "The upstream's reason, field named.", sa_type=Text,
                        public=False)  # fmt: skip
    parked_at: BeijingTime = field("搁置时间", "When it was parked (UTC+8).", public=False)


UPSTREAMS = table_of(Upstream)
PUSH_PARKED = table_of(PushParked)
