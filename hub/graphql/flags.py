"""Consistency flags in the graph: `flags(filter:)`, `Project.flags`, `Party.flags`.

Each flag links to what it is about (project, party, transaction) and to the notices it
cites, so a reader can click through from the finding to the evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import strawberry
from sqlalchemy import Connection, or_, select
from strawberry.scalars import JSON

from hub.flags.registry import SEVERITIES
from hub.graphql.catalogue_types import Node, catalogue_type, filter_field, from_row, shown
from hub.graphql.common import Info, selects
from hub.graphql.errors import BadUserInput
from hub.graphql.filters import (
    REGION_HELP,
    DateRange,
    Direction,
    date_clause,
    narrow,
    party_pk,
    project_region,
    region_clause,
)
from hub.graphql.relay import Connection as Page
from hub.graphql.relay import PageArgs, keyset_page, parse_global_id
from schema.tables import FLAGS, TRANSACTIONS

if TYPE_CHECKING:
    from hub.graphql.parties import Party
    from hub.graphql.projects import Notice, Project
    from hub.graphql.transactions import Transaction

ProjectRef = Annotated["Project", strawberry.lazy("hub.graphql.projects")]
NoticeRef = Annotated["Notice", strawberry.lazy("hub.graphql.projects")]
PartyRef = Annotated["Party", strawberry.lazy("hub.graphql.parties")]
TransactionRef = Annotated["Transaction", strawberry.lazy("hub.graphql.transactions")]
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@strawberry.type(
    name="Flag",
    description="标记: a consistency rule's finding (86号 (九)), with the evidence behind it.",
)
class Flag(catalogue_type("flags", "Flag"), Node):  # type: ignore[misc]
    @strawberry.field(
        description="证据: the notices and fields that triggered it, with their values (JSON)."
    )
    def evidence(self) -> JSON:
        return orjson.loads(self.__dict__["evidence"])

    @strawberry.field(description="项目: the project concerned, if any.")
    async def project(self, info: Info) -> ProjectRef | None:
        if self.project_id is None:
            return None
        from hub.graphql.projects import Project

        return from_row(Project, await info.context.loaders.project.load(self.project_id))

    @strawberry.field(description="主体: the party concerned (a supplier), if any.")
    async def party(self, info: Info) -> PartyRef | None:
        if self.party_id is None:
            return None
        from hub.graphql.parties import Party

        row = await info.context.loaders.party.load(self.party_id)
        return from_row(Party, row) if row else None

    @strawberry.field(description="交易: the transaction concerned (unit-price outliers).")
    async def transaction(self, info: Info) -> TransactionRef | None:
        if self.transaction_id is None:
            return None
        from hub.graphql.transactions import Transaction

        row = await info.context.loaders.transaction.load(self.transaction_id)
        if row is None:
            return None
        node = from_row(Transaction, row)
        if selects(info.selected_fields, {"supplier", "purchaser"}):
            parties = info.context.parties
            parties.want((row.supplier_id, row.purchaser_id))
            # Every flag of the page resumes from the same batch: yielding once lets them all
            # announce their parties, which the first lookup then loads in one query.
            await asyncio.sleep(0)
            node.supplier, node.purchaser = (
                parties.get(row.supplier_id),
                parties.get(row.purchaser_id),
            )
        return node

    @strawberry.field(description="相关公告: the notices it cites, in the evidence's order.")
    async def notices(self, info: Info) -> list[NoticeRef]:
        from hub.graphql.projects import Notice

        ids = [int(i) for i in (self.notice_ids or "").split(",") if i]
        rows = await info.context.loaders.notice.load_many(ids)
        return [from_row(Notice, r) for r in rows if r is not None]


def by_severity(rows: Iterable[Any]) -> list[Flag]:
    """Flags most severe first, then in id order."""
    ordered = sorted(rows, key=lambda r: (SEVERITY_RANK.get(r.severity, len(SEVERITIES)), r.id))
    return [from_row(Flag, r) for r in ordered]


def project_pk(value: strawberry.ID) -> int:
    type_name, pk = parse_global_id(value)
    if type_name != "Project":
        raise BadUserInput(f"`projectId` takes a Project id, not a {type_name} id")
    return pk


@strawberry.input(description="Narrows `flags`.")
class FlagFilter:
    code: str | None = filter_field("flags", "code", "equal to it (any case)")
    severity: str | None = filter_field("flags", "severity", "equal to it")
    region_code: str | None = strawberry.field(
        default=None, description=REGION_HELP + " Of the project, or of the transaction."
    )
    detected_at: DateRange | None = filter_field(
        "flags", "detected_at", "within this inclusive range"
    )
    project_id: strawberry.ID | None = filter_field("flags", "project_id", "this Project id")
    party_id: strawberry.ID | None = filter_field("flags", "party_id", "this Party id")

    def query(self) -> Any:
        c = FLAGS.c
        if self.severity is not None and self.severity.lower() not in SEVERITIES:
            raise BadUserInput(f"severity {self.severity!r} is not one of {', '.join(SEVERITIES)}")
        region = None
        if self.region_code is not None:
            in_region = region_clause(TRANSACTIONS.c.region_code, self.region_code)
            if in_region is not None:
                region = or_(
                    project_region(c.project_id, self.region_code),
                    c.transaction_id.in_(select(TRANSACTIONS.c.id).where(in_region)),
                )
        return narrow(
            select(*shown(FLAGS)),
            c.code == self.code.strip().upper() if self.code else None,
            c.severity == self.severity.lower() if self.severity else None,
            region,
            date_clause(c.detected_at, self.detected_at, is_datetime=True),
            c.project_id == project_pk(self.project_id) if self.project_id else None,
            c.party_id == party_pk(self.party_id, "partyId") if self.party_id else None,
        )


@strawberry.enum(description="What `flags` are ordered by.")
class FlagOrderField(Enum):
    DETECTED_AT = "detected_at"
    ID = "id"


@strawberry.input(description="Order of `flags`.")
class FlagOrder:
    field: FlagOrderField = strawberry.field(
        default=FlagOrderField.DETECTED_AT, description="What to sort by."
    )
    direction: Direction = strawberry.field(default=Direction.DESC, description="ASC or DESC.")


@strawberry.enum(description="How a party is concerned by the flags asked for.")
class FlagRelation(Enum):
    SUPPLIER = "supplier"
    PURCHASER = "purchaser"


def flags_page(conn: Connection, query: Any, order: FlagOrder | None, page: PageArgs) -> Page[Flag]:
    order = order or FlagOrder()
    columns = [FLAGS.c.id]
    if order.field is FlagOrderField.DETECTED_AT:
        columns.insert(0, FLAGS.c.detected_at)
    descending = order.direction is Direction.DESC
    return keyset_page(conn, query, columns, descending, page, lambda r: from_row(Flag, r))


async def party_flags(info: Info, party: int, relation: FlagRelation) -> list[Flag]:
    """A party's flags: as the supplier concerned, or on the projects it purchased."""
    loaders = info.context.loaders
    loader = loaders.party_flags if relation is FlagRelation.SUPPLIER else loaders.purchaser_flags
    return by_severity(await loader.load(party))
