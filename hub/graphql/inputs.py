"""The filter and order inputs of the lists: each filter builds its SQL query.

Apart from the type modules, so that a type can take another list's filter or order (a
party's contracts, its transactions in any order) without importing that type's module.
The clauses come from hub.read.where, the orders' columns from hub.read.lists.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import or_, select

from hub.graphql.catalogue_types import filter_field
from hub.graphql.errors import BadUserInput
from hub.graphql.filters import (
    RECEIVED_HELP,
    REGION_HELP,
    TIME_HELP,
    AmountRange,
    DateRange,
    Direction,
    TimeRange,
)
from hub.read.lists import signed_by
from hub.read.rows import shown
from hub.read.where import (
    amount_clause,
    date_clause,
    debarred_on,
    has_role,
    narrow,
    party_pk,
    project_pk,
    project_region,
    region_clause,
    text_contains,
    time_clause,
)
from schema.severity import SEVERITIES
from schema.tables import CONTRACTS, FLAGS, NOTICES, PARTIES, PROJECTS, TRANSACTIONS
from schema.tables import PENALTY_RECORDS as PENALTIES


@strawberry.input(description="Narrows `projects`.")
class ProjectFilter:
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    procurement_method: str | None = filter_field("projects", "procurement_method", "equal to it")
    main_category: str | None = filter_field("projects", "main_category", "equal to it")
    category_code_prefix: str | None = filter_field("projects", "category_code", "starting with it")
    status: str | None = filter_field("projects", "status", "equal to it")
    purchaser_id: strawberry.ID | None = filter_field(
        "projects", "purchaser_id", "this party (a Party id)"
    )
    agency_id: strawberry.ID | None = filter_field(
        "projects", "agency_id", "this party (a Party id)"
    )
    budget: AmountRange | None = filter_field("projects", "budget", "within this inclusive range")
    last_published: DateRange | None = filter_field(
        "projects", "last_published_at", "within this inclusive range"
    )

    def query(self) -> Any:
        c = PROJECTS.c
        return narrow(
            select(PROJECTS),
            region_clause(c.region_code, self.region_code),
            c.procurement_method == self.procurement_method if self.procurement_method else None,
            c.main_category == self.main_category if self.main_category else None,
            c.category_code.like(self.category_code_prefix + "%")
            if self.category_code_prefix
            else None,
            c.status == self.status if self.status else None,
            c.purchaser_id == party_pk(self.purchaser_id, "purchaserId")
            if self.purchaser_id
            else None,
            c.agency_id == party_pk(self.agency_id, "agencyId") if self.agency_id else None,
            amount_clause(c.budget, self.budget),
            date_clause(c.last_published_at, self.last_published, is_datetime=True),
        )


@strawberry.enum
class ProjectOrderField(Enum):
    LAST_PUBLISHED_AT = "last_published_at"
    FIRST_PUBLISHED_AT = "first_published_at"
    ID = "id"


@strawberry.input
class ProjectOrder:
    field: ProjectOrderField = strawberry.field(
        default=ProjectOrderField.LAST_PUBLISHED_AT, description="What to sort by."
    )
    direction: Direction = strawberry.field(default=Direction.DESC, description="ASC or DESC.")


@strawberry.input(description="Narrows `notices`.")
class NoticeFilter:
    notice_type: str | None = filter_field("notices", "notice_type", "equal to it")
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    published: DateRange | None = filter_field(
        "notices", "published_at", "on these days, an inclusive range of dates"
    )
    published_at: TimeRange | None = filter_field("notices", "published_at", TIME_HELP)
    received_at: TimeRange | None = filter_field("notices", "received_at", RECEIVED_HELP)
    ocid: str | None = filter_field("notices", "ocid", "equal to it")

    def query(self) -> Any:
        c = NOTICES.c
        return narrow(
            select(*shown(NOTICES)),
            c.notice_type == self.notice_type if self.notice_type else None,
            project_region(c.project_id, self.region_code),
            date_clause(c.published_at, self.published, is_datetime=True),
            time_clause(c.published_at, self.published_at, "publishedAt"),
            time_clause(c.received_at, self.received_at, "receivedAt"),
            c.ocid == self.ocid if self.ocid else None,
        )


@strawberry.enum
class NoticeOrderField(Enum):
    PUBLISHED_AT = "published_at"
    RECEIVED_AT = "received_at"


@strawberry.input
class NoticeOrder:
    field: NoticeOrderField = strawberry.field(
        default=NoticeOrderField.PUBLISHED_AT, description="What to sort by."
    )
    direction: Direction = strawberry.field(default=Direction.DESC, description="ASC or DESC.")


@strawberry.input(description="Narrows `contracts`.")
class ContractFilter:
    supplier_id: strawberry.ID | None = filter_field(
        "contract_suppliers", "party_id", "this party (a Party id), lead or consortium member"
    )
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    signed: DateRange | None = filter_field(
        "contracts", "date_signed", "within this inclusive range"
    )
    amount: AmountRange | None = filter_field("contracts", "amount", "within this inclusive range")

    def query(self) -> Any:
        c = CONTRACTS.c
        return narrow(
            select(CONTRACTS),
            signed_by(pk) if (pk := party_pk(self.supplier_id, "supplierId")) else None,
            project_region(c.project_id, self.region_code),
            date_clause(c.date_signed, self.signed, is_datetime=True),
            amount_clause(c.amount, self.amount),
        )


@strawberry.enum
class PartyRelation(Enum):
    SUPPLIER = "supplier_id"
    PURCHASER = "purchaser_id"


@strawberry.input(description="Narrows `parties` and `suppliers`.")
class PartyFilter:
    role: str | None = strawberry.field(default=None, description="purchaser, agency, supplier, …")
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    name_contains: str | None = filter_field("parties", "name", "containing this text")
    uscc: str | None = filter_field("parties", "uscc", "equal to it")
    debarred_on: date | None = strawberry.field(
        default=None, description="With a debarment in force that day."
    )

    def query(self) -> Any:
        c = PARTIES.c
        return narrow(
            select(*shown(PARTIES)),
            has_role(c.id, self.role) if self.role else None,
            region_clause(c.region_code, self.region_code),
            text_contains(c.name, self.name_contains),
            c.uscc == self.uscc.upper() if self.uscc else None,
            debarred_on(c.id, self.debarred_on) if self.debarred_on else None,
        )


@strawberry.input(description="Narrows `penalties`.")
class PenaltyFilter:
    kind: str | None = filter_field("penalty_records", "kind", "equal to it")
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    subject_id: strawberry.ID | None = filter_field(
        "penalty_records", "subject_id", "this party (a Party id)"
    )
    decided: DateRange | None = filter_field(
        "penalty_records", "decision_date", "within this inclusive range"
    )
    published_at: TimeRange | None = filter_field("penalty_records", "published_at", TIME_HELP)
    received_at: TimeRange | None = filter_field("penalty_records", "received_at", RECEIVED_HELP)
    debarred_on: date | None = strawberry.field(
        default=None, description="Debarments in force that day."
    )

    def query(self) -> Any:
        c = PENALTIES.c
        day = self.debarred_on
        return narrow(
            select(*shown(PENALTIES)),
            c.kind == self.kind if self.kind else None,
            region_clause(c.region_code, self.region_code),
            c.subject_id == party_pk(self.subject_id, "subjectId") if self.subject_id else None,
            date_clause(c.decision_date, self.decided),
            time_clause(c.published_at, self.published_at, "publishedAt"),
            time_clause(c.received_at, self.received_at, "receivedAt"),
            [c.debarment_start <= day, c.debarment_end >= day] if day else None,
        )


@strawberry.enum
class PenaltyOrderField(Enum):
    DECISION_DATE = "decision_date"
    PUBLISHED_AT = "published_at"
    RECEIVED_AT = "received_at"


@strawberry.input
class PenaltyOrder:
    field: PenaltyOrderField = strawberry.field(
        default=PenaltyOrderField.DECISION_DATE, description="What to sort by."
    )
    direction: Direction = strawberry.field(default=Direction.DESC, description="ASC or DESC.")


@strawberry.input(description="Narrows `transactions`.")
class TransactionFilter:
    region_code: str | None = strawberry.field(default=None, description=REGION_HELP)
    channel: str | None = filter_field("transactions", "channel", "equal to it")
    category_code_prefix: str | None = filter_field(
        "transactions", "category_code", "starting with it"
    )
    purchaser_id: strawberry.ID | None = filter_field(
        "transactions", "purchaser_id", "this party (a Party id)"
    )
    supplier_id: strawberry.ID | None = filter_field(
        "transactions", "supplier_id", "this party (a Party id)"
    )
    order_date: DateRange | None = filter_field(
        "transactions", "order_date", "within this inclusive range"
    )
    published_at: TimeRange | None = filter_field("transactions", "published_at", TIME_HELP)
    received_at: TimeRange | None = filter_field("transactions", "received_at", RECEIVED_HELP)
    amount: AmountRange | None = filter_field(
        "transactions", "amount", "within this inclusive range"
    )
    unit_price: AmountRange | None = filter_field(
        "transactions", "unit_price", "within this inclusive range"
    )
    brand: str | None = filter_field("transactions", "brand", "equal to it")
    model_contains: str | None = filter_field("transactions", "model", "containing this text")
    item_name_contains: str | None = filter_field(
        "transactions", "item_name", "containing this text"
    )

    def query(self, base: Any = None) -> Any:
        c = TRANSACTIONS.c
        return narrow(
            select(*shown(TRANSACTIONS)) if base is None else base,
            region_clause(c.region_code, self.region_code),
            c.channel == self.channel if self.channel else None,
            c.category_code.like(self.category_code_prefix + "%")
            if self.category_code_prefix
            else None,
            c.purchaser_id == party_pk(self.purchaser_id, "purchaserId")
            if self.purchaser_id
            else None,
            c.supplier_id == party_pk(self.supplier_id, "supplierId") if self.supplier_id else None,
            date_clause(c.order_date, self.order_date),
            time_clause(c.published_at, self.published_at, "publishedAt"),
            time_clause(c.received_at, self.received_at, "receivedAt"),
            amount_clause(c.amount, self.amount),
            amount_clause(c.unit_price, self.unit_price),
            c.brand == self.brand if self.brand else None,
            text_contains(c.model, self.model_contains),
            text_contains(c.item_name, self.item_name_contains),
        )


@strawberry.enum
class TransactionOrderField(Enum):
    ORDER_DATE = "order_date"
    PUBLISHED_AT = "published_at"
    RECEIVED_AT = "received_at"
    AMOUNT = "amount"
    UNIT_PRICE = "unit_price"
    ID = "id"


@strawberry.input
class TransactionOrder:
    field: TransactionOrderField = strawberry.field(
        default=TransactionOrderField.ORDER_DATE, description="What to sort by."
    )
    direction: Direction = strawberry.field(default=Direction.DESC, description="ASC or DESC.")


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
