"""Every way a record reached this hub: its publisher directly, or a relay (转发) of it."""

from __future__ import annotations

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import SQLModel

from schema.columns import field
from schema.types import BeijingTime


class RecordSource(SQLModel, table=True):
    """One delivery of a record by one account: a notice pushed by the trading platform and
    relayed by the provincial site is one notice with two of these (design §2, issue 17)."""

    __tablename__ = "record_sources"
    __table_args__ = (
        UniqueConstraint("kind", "record_id", "publisher_id"),
        # A relayed transaction or penalty is found by its order / record id and the
        # publisher that first published it, whoever delivered it here.
        Index("ix_record_sources_original", "kind", "original_publisher"),
    )

    id: int | None = field("编号", "Internal id.", primary_key=True, public=False)
    kind: str = field("记录类别", "notice, transaction or penalty.")
    record_id: int = field(
        "记录内部编号", "Internal id of the record in notices, transactions or penalty_records."
    )
    publisher_id: int = field(
        "发布者", "The account that delivered it to this hub.", foreign_key="publishers.id"
    )
    original_publisher: str = field(
        "原始发布者", "Name of the publisher that first published it (itself when direct)."
    )
    original_role: str = field(
        "原始发布者角色", "Role of the original publisher (finance_department, …)."
    )
    source_site: str | None = field("来源网站", "The site it was first published on.", default=None)
    first_published_at: BeijingTime = field("首次发布时间", "When it was first published (UTC+8).")
    received_at: BeijingTime = field("接收时间", "When this hub received it (UTC+8).")
    hops: str = field(
        "转发路径",
        "JSON list of {hub, receivedAt}: the hubs it passed, this hub's arrival last.",
        sa_type=Text,
    )
