"""Relays over GraphQL: the `relay` input of `publish` and the `sources` of a record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from hub.graphql.common import Info
from hub.graphql.nodes import PUBLISHER, PublisherRef
from hub.read.sources import hops_of
from schema.types import RecordKind


@strawberry.input(description="One hub a relayed record passed before this one.")
class HopInput:
    hub: str = strawberry.field(description="The hub's name (its public URL).")
    received_at: datetime = strawberry.field(description="When that hub received it.")


@strawberry.input(
    description="转发: a record first published by another publisher, relayed by a regional "
    "site or trading platform within its scope."
)
class RelayInput:
    original_publisher: str = strawberry.field(
        description="原始发布者: the publisher that first published it (for a penalty record, "
        "a finance department)."
    )
    original_role: str = strawberry.field(
        description="Its role: purchaser, agency, regional_site, trading_platform or "
        "finance_department."
    )
    first_published_at: datetime = strawberry.field(
        description="首次发布时间: when it was first published."
    )
    source_site: str | None = strawberry.field(
        default=None, description="来源网站: the site it was first published on."
    )
    hops: list[HopInput] = strawberry.field(
        default_factory=list, description="The hubs it passed so far, in order."
    )


def relay_values(relay: RelayInput | None) -> dict[str, Any] | None:
    """The input as the publishing pipeline reads it (the same keys as in a file)."""
    if relay is None:
        return None
    return {
        "originalPublisher": relay.original_publisher,
        "originalRole": relay.original_role,
        "sourceSite": relay.source_site,
        "firstPublishedAt": relay.first_published_at,
        "hops": [{"hub": h.hub, "receivedAt": h.received_at} for h in relay.hops],
    }


@strawberry.type(description="A hub a record passed on its way here.")
class Hop:
    hub: str = strawberry.field(description="The hub's name (its public URL).")
    received_at: datetime = strawberry.field(description="When that hub received it.")


@strawberry.type
class SourceFields:
    source_site: str | None = strawberry.field(
        description="来源网站: the site it was first published on."
    )
    received_at: datetime = strawberry.field(description="接收时间: when it arrived (UTC+8).")
    original_publisher: str = strawberry.field(
        description="原始发布者: the publisher that first published it (the delivering "
        "publisher itself when pushed directly)."
    )
    original_role: str = strawberry.field(description="原始发布者角色: its role.")
    first_published_at: datetime = strawberry.field(
        description="首次发布时间: when it was first published (UTC+8)."
    )
    hops: list[Hop] = strawberry.field(
        description="转发路径: the hubs it passed, this hub's arrival last."
    )
    publisher_pk: strawberry.Private[int]

    @strawberry.field(description="The account that delivered it to this hub.")
    async def publisher(self, info: Info) -> PublisherRef:
        return PUBLISHER.build(await info.context.loaders.publisher.load(self.publisher_pk))


@strawberry.type(description="A delivery of a notice: a site it arrived from.")
class NoticeSource(SourceFields):
    pass


@strawberry.type(description="A delivery of a record: directly by its publisher, or relayed.")
class RecordSource(SourceFields):
    pass


def _fields(row: Any) -> dict[str, Any]:
    return {
        "source_site": row.source_site, "received_at": row.received_at,
        "original_publisher": row.original_publisher, "original_role": row.original_role,
        "first_published_at": row.first_published_at, "publisher_pk": row.publisher_id,
        "hops": [Hop(hub=h["hub"], received_at=datetime.fromisoformat(h["receivedAt"]))
                 for h in hops_of(row)],
    }  # fmt: skip


async def notice_sources(info: Info, pk: int) -> list[NoticeSource]:
    rows = await info.context.loaders.record_sources(RecordKind.notice).load(pk)
    return [NoticeSource(**_fields(r)) for r in rows]


async def record_sources(info: Info, kind: RecordKind, pk: int) -> list[RecordSource]:
    rows = await info.context.loaders.record_sources(kind).load(pk)
    return [RecordSource(**_fields(r)) for r in rows]
