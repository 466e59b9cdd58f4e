"""Aggregates for researchers: count, sum, average, min and max by group, computed in SQL."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import BigInteger, String, case, cast, func, select, type_coerce

from hub.graphql.common import Info
from hub.graphql.errors import BadUserInput
from hub.graphql.inputs import ContractFilter, TransactionFilter
from hub.read.cursors import global_id
from hub.read.rows import among
from hub.read.where import in_yuan, region_clause
from schema.columns import ScaledDecimal
from schema.tables import AWARD_SUPPLIERS, AWARDS, CONTRACTS, PARTIES, PROJECTS, TRANSACTIONS

MAX_GROUPS = 1000


@strawberry.enum(description="What to group by.")
class StatsGroup(Enum):
    SUPPLIER = "supplier"
    PURCHASER = "purchaser"
    REGION = "region"
    CATEGORY = "category"
    MONTH = "month"
    BRAND = "brand"


@strawberry.type(description="One grouping key: the raw value and, for parties, the name.")
class StatsKey:
    group: StatsGroup = strawberry.field(description="Which grouping this key is for.")
    value: str | None = strawberry.field(description="Party global id, division code, YYYY-MM, …")
    label: str | None = strawberry.field(
        description="The party's name, for SUPPLIER and PURCHASER."
    )


@strawberry.type(
    description="Sum, average, minimum and maximum of an amount in yuan. For transactions, "
    "`sum` of amounts is net of returns (退货, negative); the average, minimum and maximum, "
    "and every unit-price measure, cover purchases only."
)
class Measure:
    sum: Decimal | None = strawberry.field(description="Total, exact as stored.")
    avg: Decimal | None = strawberry.field(
        description="Mean, rounded as stored (fen, or 0.0001 yuan for unit prices)."
    )
    min: Decimal | None = strawberry.field(description="Smallest.")
    max: Decimal | None = strawberry.field(description="Largest.")


@strawberry.type(description="One group of an aggregate.")
class StatsRow:
    keys: list[StatsKey] = strawberry.field(description="The group's keys, in groupBy order.")
    count: int = strawberry.field(description="Records in the group.")
    amount: Measure = strawberry.field(
        description="成交/合同/中标金额 in yuan (awards and contracts in another currency are "
        "left out of the groups)."
    )
    unit_price: Measure | None = strawberry.field(description="单价 in yuan (transactions only).")


def _month(column: Any) -> Any:
    return func.substr(cast(column, String), 1, 7)


def _measure(scale: ScaledDecimal, total: Any, average: Any, low: Any, high: Any) -> Measure:
    def yuan(value: Any) -> Decimal | None:
        if value is None:
            return None
        return scale.from_scaled(int(Decimal(value).to_integral_value()))

    return Measure(sum=yuan(total), avg=yuan(average), min=yuan(low), max=yuan(high))


def _aggregates(column: Any, purchases: Any | None, *, net: bool = False) -> list[Any]:
    """Sum, mean, min, max of the stored integers (summed exactly by the database); over
    purchases only when `purchases` is given (a condition), except a `net` sum."""
    raw = type_coerce(column, BigInteger)
    only = raw if purchases is None else case((purchases, raw))  # NULL for a return
    return [func.sum(raw if net else only), func.avg(only), func.min(only), func.max(only)]


def _scale(column: Any) -> ScaledDecimal:
    return column.type  # money columns are ScaledDecimal


def run_stats(
    info: Info, base: Any, where: Any, columns: dict[StatsGroup, Any], group_by: list[StatsGroup],
    amount: Any, unit_price: Any | None, limit: int, purchases: Any | None = None,
) -> list[StatsRow]:  # fmt: skip
    if not group_by:
        raise BadUserInput("groupBy needs at least one group")
    if len(set(group_by)) != len(group_by):  # ["SUPPLIER"] * 990: 30 s of CPU, 300 MB
        raise BadUserInput("groupBy names each group once at most")
    missing = [g.name for g in group_by if g not in columns]
    if missing:
        raise BadUserInput(f"cannot group by {', '.join(missing)} here")
    if not 1 <= limit <= MAX_GROUPS:
        raise BadUserInput(f"limit must be between 1 and {MAX_GROUPS}")
    keys = [columns[g].label(f"k{i}") for i, g in enumerate(group_by)]
    measures = _aggregates(amount, purchases, net=True)
    if unit_price is not None:
        measures += _aggregates(unit_price, purchases)
    query = select(*keys, func.count(), *measures).select_from(base)
    if where is not None:
        query = query.where(where)
    query = query.group_by(*keys).order_by(*keys).limit(limit)
    rows = info.context.conn.execute(query).all()
    party_groups = [
        i for i, g in enumerate(group_by) if g in (StatsGroup.SUPPLIER, StatsGroup.PURCHASER)
    ]
    ids = {row[i] for row in rows for i in party_groups if row[i] is not None}
    names: dict[Any, str] = {}
    if ids:
        named = select(PARTIES.c.id, PARTIES.c.name).where(
            among(info.context.conn, PARTIES.c.id, ids)
        )
        # A result has .keys(), so dict(result) takes it for a mapping: build it from rows.
        names = {pk: name for pk, name in info.context.conn.execute(named)}
    result = []
    width = len(keys)
    for row in rows:
        stats_keys = []
        for i, group in enumerate(group_by):
            value = row[i]
            if i in party_groups and value is not None:
                stats_keys.append(
                    StatsKey(group=group, value=global_id("Party", value), label=names.get(value))
                )
            else:
                stats_keys.append(
                    StatsKey(group=group, value=None if value is None else str(value), label=None)
                )
        count = row[width]
        amount_measure = _measure(_scale(amount), *row[width + 1 : width + 5])
        price = (
            _measure(_scale(unit_price), *row[width + 5 : width + 9])
            if unit_price is not None
            else None
        )
        result.append(
            StatsRow(keys=stats_keys, count=count, amount=amount_measure, unit_price=price)
        )
    return result


def transaction_stats(
    info: Info, filter: TransactionFilter | None, group_by: list[StatsGroup], limit: int
) -> list[StatsRow]:
    c = TRANSACTIONS.c
    columns = {
        StatsGroup.SUPPLIER: c.supplier_id, StatsGroup.PURCHASER: c.purchaser_id,
        StatsGroup.REGION: c.region_code, StatsGroup.CATEGORY: c.category_code,
        StatsGroup.MONTH: _month(c.order_date), StatsGroup.BRAND: c.brand,
    }  # fmt: skip
    where = (filter or TransactionFilter()).query().whereclause
    return run_stats(
        info, TRANSACTIONS, where, columns, group_by, c.amount, c.unit_price, limit,
        purchases=type_coerce(c.quantity, BigInteger) >= 0,
    )  # fmt: skip


def contract_stats(
    info: Info, filter: ContractFilter | None, group_by: list[StatsGroup], limit: int
) -> list[StatsRow]:
    p = PROJECTS.c
    columns = {
        StatsGroup.SUPPLIER: CONTRACTS.c.supplier_id, StatsGroup.PURCHASER: p.purchaser_id,
        StatsGroup.REGION: p.region_code, StatsGroup.CATEGORY: p.category_code,
        StatsGroup.MONTH: _month(CONTRACTS.c.date_signed),
    }  # fmt: skip
    base = CONTRACTS.join(PROJECTS, PROJECTS.c.id == CONTRACTS.c.project_id)
    where = in_yuan(CONTRACTS.c.currency, (filter or ContractFilter()).query().whereclause)
    return run_stats(info, base, where, columns, group_by, CONTRACTS.c.amount, None, limit)


def award_stats(
    info: Info, group_by: list[StatsGroup], limit: int, region_code: str | None
) -> list[StatsRow]:
    p = PROJECTS.c
    columns = {
        StatsGroup.SUPPLIER: AWARD_SUPPLIERS.c.party_id, StatsGroup.PURCHASER: p.purchaser_id,
        StatsGroup.REGION: p.region_code, StatsGroup.CATEGORY: p.category_code,
        StatsGroup.MONTH: _month(AWARDS.c.decision_date),
    }  # fmt: skip
    base = AWARDS.join(PROJECTS, PROJECTS.c.id == AWARDS.c.project_id)
    if StatsGroup.SUPPLIER in group_by:
        base = base.join(AWARD_SUPPLIERS, AWARD_SUPPLIERS.c.award_pk == AWARDS.c.id)
    return run_stats(
        info,
        base,
        in_yuan(AWARDS.c.currency, region_clause(p.region_code, region_code)),
        columns,
        group_by,
        AWARDS.c.amount,
        None,
        limit,
    )
