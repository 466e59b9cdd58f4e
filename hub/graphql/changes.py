"""`changes`: the change feed in GraphQL, read through hub.read.changes like GET /changes."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from hub.graphql.common import Info
from hub.graphql.relay import PageInfo
from hub.read.changes import ChangeRow, page_size, parse_change_cursor, read_changes
from schema.types import RecordKind as Kind


@strawberry.enum(name="RecordKind", description="What a record is: notice, transaction, penalty.")
class RecordKind(Enum):
    NOTICE = "notice"
    TRANSACTION = "transaction"
    PENALTY = "penalty"


@strawberry.type(description="变更: an accepted record (or a new source of one), in order.")
class Change:
    seq: strawberry.ID = strawberry.field(
        description="变更序号: the change's place in the feed, never reused (a 64-bit number)."
    )
    kind: RecordKind = strawberry.field(description="记录类别: notice, transaction or penalty.")
    action: str = strawberry.field(
        description="变更类型: insert (a new record) or source (a new source of a held one)."
    )
    accepted_at: datetime = strawberry.field(
        description="接收时间: when the hub accepted it (UTC+8)."
    )
    content_hash: str = strawberry.field(description="内容摘要: the record's content hash.")
    ocid: str | None = strawberry.field(description="开放缔约标识OCID: its project, if any.")
    record_id: strawberry.ID = strawberry.field(
        description="The record's internal id on this hub (not stable across hubs)."
    )
    payload: str = strawberry.field(
        description="The record as its publisher sent it, verbatim: a JSON string (an OCDS "
        "release for a notice, the row for a transaction or a penalty)."
    )
    publisher: str = strawberry.field(description="发布者: the account that delivered it.")
    publisher_role: str = strawberry.field(description="发布者类型: that account's role.")
    source_site: str | None = strawberry.field(description="来源网站: the site it came from.")
    relay: str | None = strawberry.field(
        description="转发: for a record the account relayed (first published by another), "
        "the `relay` it came with as JSON ({originalPublisher, originalRole, sourceSite, "
        "firstPublishedAt, hops} with the hops before this hub); null for its own records."
    )
    published_at: datetime = strawberry.field(description="发布时间: its publish time (UTC+8).")


@strawberry.type
class ChangeEdge:
    cursor: str = strawberry.field(description="Opaque, stable position of this change.")
    node: Change = strawberry.field(description="The change.")


@strawberry.type(description="A page of the change feed, oldest first.")
class ChangeConnection:
    edges: list[ChangeEdge] = strawberry.field(description="The changes with their cursors.")
    page_info: PageInfo = strawberry.field(description="Where this page stands.")


def _node(row: ChangeRow) -> Change:
    return Change(
        seq=strawberry.ID(str(row.seq)), kind=RecordKind(row.kind), action=row.action,
        accepted_at=row.accepted_at, content_hash=row.content_hash, ocid=row.ocid,
        record_id=strawberry.ID(str(row.record_id)), payload=row.payload,
        publisher=row.publisher, publisher_role=row.publisher_role,
        source_site=row.source_site, published_at=row.published_at, relay=row.relay,
    )  # fmt: skip


def changes_page(
    info: Info, after: str | None, first: int | None, kinds: list[RecordKind] | None
) -> ChangeConnection:
    page = read_changes(
        info.context.conn, parse_change_cursor(after), page_size(first),
        [Kind(k.value) for k in kinds] if kinds else None,
    )  # fmt: skip
    edges = [ChangeEdge(cursor=row.cursor, node=_node(row)) for row in page.rows]
    return ChangeConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after not in (None, ""),
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=page.end_cursor,
        ),
    )
