"""Unit-price outliers among framework-agreement and e-mall orders (财库〔2017〕86号 (五)).

Orders are compared with orders of the same category code and model (spaces, width and case
ignored) in the same calendar quarter. The median and the median absolute deviation (MAD)
resist the very outliers being looked for, where a mean and standard deviation would not.
Rows stream ordered by (category, date), so memory holds one category-quarter at a time.
Only purchases are compared: a return (退货, negative quantity) is no order at its price, and
one refunded below the price paid would otherwise pass for a cheap purchase and pull the
median down. Services published without a model have nothing to compare by.
"""

from __future__ import annotations

import unicodedata
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from sqlalchemy import BigInteger, Connection, select, type_coerce

from schema.columns import UnitPrice
from schema.tables import TRANSACTIONS

CODE = "UNIT_PRICE_OUTLIER"
SEVERITY = "medium"
LEGAL_BASIS = (
    "政府采购法第十七条：集中采购的价格应低于市场平均价格；"
    "财库〔2017〕86号（五）：公开成交单价以供比较"
)
MIN_ORDERS = 5  # a median of fewer orders says little
MIN_OTHER_PURCHASERS = 3  # "what other purchasers paid"
RATIO = Decimal("1.5")  # at least half again the median …
MADS = 5  # … and five robust standard deviations above it
MAD_TO_SIGMA = Decimal("1.4826")
PEERS_SHOWN = 20
SCALE = UnitPrice.scale  # unit prices are stored in 0.0001 yuan


@dataclass(frozen=True)
class Order:
    id: int
    order_id: str
    purchaser_id: int
    supplier_id: int
    model: str
    unit_price: Decimal
    order_date: date


@dataclass(frozen=True)
class Outlier:
    order: Order
    category_code: str
    quarter: str
    median: Decimal
    mad: Decimal
    peers: list[Order]
    group_size: int

    def message(self) -> str:
        ratio = (self.order.unit_price / self.median).quantize(Decimal("0.01"))
        return (
            f"订单{self.order.order_id}单价{self.order.unit_price}元，是同期（{self.quarter}）"
            f"同品目（{self.category_code}）同型号（{self.order.model}）{self.group_size}笔成交"
            f"中位数{self.median}元的{ratio}倍"
        )


@cache
def model_key(model: str) -> str:
    """Models compared with spaces, width and case ignored (cached: few models, many orders)."""
    return "".join(unicodedata.normalize("NFKC", model).casefold().split())


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _quarter_key(day: date) -> tuple[int, int]:
    """(year, quarter): comparable without date arithmetic, so safe up to 9999-12-31."""
    return day.year, (day.month - 1) // 3


def _median(ordered: Sequence[int | Decimal]) -> Decimal:
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[middle])
    return Decimal(ordered[middle - 1] + ordered[middle]) / 2


class Group:
    """The orders of one category, model and quarter, as four parallel integer arrays: the
    busiest group of a 10M-row database holds half a million orders (~32 bytes each here,
    ~400 as row tuples)."""

    __slots__ = ("days", "ids", "prices", "purchasers")

    def __init__(self) -> None:
        self.ids, self.purchasers, self.prices, self.days = (array("q") for _ in range(4))

    def add(self, id_: int, purchaser_id: int, price: int, day: date) -> None:
        self.ids.append(id_)
        self.purchasers.append(purchaser_id)
        self.prices.append(price)
        self.days.append(day.toordinal())


def _orders(conn: Connection, group: Group, positions: list[int]) -> list[Order]:
    """The orders at `positions` of `group`, their order ids and suppliers read by id."""
    ids = [group.ids[i] for i in positions]
    t = TRANSACTIONS.c
    query = select(t.id, t.order_id, t.supplier_id, t.model).where(t.id.in_(ids))
    found = {r.id: r for r in conn.execute(query)}
    return [
        Order(group.ids[i], found[group.ids[i]].order_id, group.purchasers[i],
              found[group.ids[i]].supplier_id, found[group.ids[i]].model,
              UnitPrice.from_scaled(group.prices[i]), date.fromordinal(group.days[i]))
        for i in positions
    ]  # fmt: skip


def outliers_in(
    conn: Connection, category_code: str, quarter: str, groups: Iterable[Group]
) -> Iterator[Outlier]:
    """Orders priced far above the median of one category, model and quarter.

    Prices stay the stored integers (0.0001 yuan) until a group has an order above its threshold: a
    full rebuild reads ten million orders and finds a few hundred.
    """
    for group in groups:
        if len(group.ids) < MIN_ORDERS:
            continue
        prices = sorted(group.prices)
        median = _median(prices)
        mad = _median(sorted(abs(p - median) for p in prices))
        threshold = max(median * RATIO, median + MADS * MAD_TO_SIGMA * mad)
        if prices[-1] <= threshold:
            continue
        for i, price in enumerate(group.prices):
            if price <= threshold:
                continue
            buyer = group.purchasers[i]
            others = [j for j, p in enumerate(group.purchasers) if p != buyer]
            if len({group.purchasers[j] for j in others}) < MIN_OTHER_PURCHASERS:
                continue
            peers = sorted(others, key=lambda j: (group.days[j], group.ids[j]))[:PEERS_SHOWN]
            order, *shown = _orders(conn, group, [i, *peers])
            yield Outlier(order, category_code, quarter, _yuan(median), _yuan(mad), shown,
                          len(group.ids))  # fmt: skip


def _yuan(scaled: Decimal) -> Decimal:
    """A median or MAD (maybe half a stored unit) as yuan, shown as prices are."""
    return UnitPrice.from_scaled(int(scaled.to_integral_value()))


def _chunks(conn: Connection) -> Iterator[tuple[str, str, list[Group]]]:
    """(category, quarter, groups by model) from one ordered pass over the transactions."""
    t = TRANSACTIONS.c
    query = (
        select(t.id, t.purchaser_id, type_coerce(t.unit_price, BigInteger), t.order_date,
               t.model, t.category_code)
        .where(t.category_code.is_not(None), t.quantity > 0, t.model.is_not(None))
        .order_by(t.category_code, t.order_date, t.id)
    )  # fmt: skip
    category: str | None = None
    quarter = (0, 0)
    started = date.min
    groups: dict[str, Group] = {}
    # Options on the statement: Connection.execution_options would change the connection.
    result = conn.execute(query.execution_options(stream_results=True, yield_per=10_000))
    for rows in result.partitions():
        for id_, purchaser_id, price, day, model, row_category in rows:
            if row_category != category or _quarter_key(day) != quarter:
                if groups:
                    yield category, quarter_of(started), list(groups.values())  # type: ignore[misc]
                category, started, quarter, groups = row_category, day, _quarter_key(day), {}
            key = model_key(model)
            group = groups.get(key)
            if group is None:
                group = groups[key] = Group()
            group.add(id_, purchaser_id, price, day)
    if groups:
        yield category, quarter_of(started), list(groups.values())  # type: ignore[misc]


def price_outliers(conn: Connection) -> Iterable[Outlier]:
    """Every outlier, read in one pass (order ids and suppliers fetched for the few found)."""
    for category_code, quarter, groups in _chunks(conn):
        yield from outliers_in(conn, category_code, quarter, groups)
