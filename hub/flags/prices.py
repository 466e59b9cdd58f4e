"""Unit-price outliers among framework-agreement and e-mall orders (财库〔2017〕86号 (五)).

Orders are compared with orders of the same category code and model (spaces, width and case
ignored) in the same calendar quarter. The median and the median absolute deviation (MAD)
resist the very outliers being looked for, where a mean and standard deviation would not.
Rows stream ordered by (category, date), so memory holds one category-quarter at a time.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from sqlalchemy import BigInteger, Connection, select, type_coerce

from schema.columns import Money
from schema.tables import Transaction

TRANSACTIONS = Transaction.__table__  # type: ignore[attr-defined]
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
SCALE = Money.scale  # unit prices are stored in fen
CENT = Decimal("0.01")
# A transaction as the pass reads it: id, order_id, purchaser_id, supplier_id, model,
# unit price in fen (the stored integer), order date.
Raw = tuple[int, str, int, int, str, int, date]


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


def _quarter_end(day: date) -> date:
    """The first day of the quarter after `day`'s."""
    first = (day.month - 1) // 3 * 3 + 1
    return date(day.year + 1, 1, 1) if first == 10 else date(day.year, first + 3, 1)


def _order(raw: Raw) -> Order:
    return Order(raw[0], raw[1], raw[2], raw[3], raw[4],
                 Decimal(raw[5]).scaleb(-SCALE), raw[6])  # fmt: skip


def _median(ordered: Sequence[int | Decimal]) -> Decimal:
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(ordered[middle])
    return Decimal(ordered[middle - 1] + ordered[middle]) / 2


def outliers_in(category_code: str, quarter: str, orders: list[Raw]) -> Iterator[Outlier]:
    """Orders priced far above the median of one category, model and quarter.

    Prices stay the stored integers (fen) until a group has an order above its threshold: a
    full rebuild reads ten million orders and finds a few hundred.
    """
    groups: dict[str, list[Raw]] = {}
    for order in orders:
        groups.setdefault(model_key(order[4]), []).append(order)
    for group in groups.values():
        if len(group) < MIN_ORDERS:
            continue
        prices = sorted(o[5] for o in group)
        median = _median(prices)
        mad = _median(sorted(abs(p - median) for p in prices))
        threshold = max(median * RATIO, median + MADS * MAD_TO_SIGMA * mad)
        if prices[-1] <= threshold:
            continue
        for order in group:
            if order[5] <= threshold:
                continue
            others = [o for o in group if o[2] != order[2]]
            if len({o[2] for o in others}) < MIN_OTHER_PURCHASERS:
                continue
            peers = sorted(others, key=lambda o: (o[6], o[0]))[:PEERS_SHOWN]
            yield Outlier(_order(order), category_code, quarter,
                          median.scaleb(-SCALE).quantize(CENT), mad.scaleb(-SCALE).quantize(CENT),
                          [_order(p) for p in peers], len(group))  # fmt: skip


def _chunks(conn: Connection) -> Iterator[tuple[str, str, list[Raw]]]:
    """(category, quarter, orders) from one ordered pass over the transactions."""
    t = TRANSACTIONS.c
    query = (
        select(t.id, t.order_id, t.purchaser_id, t.supplier_id, t.model,
               type_coerce(t.unit_price, BigInteger), t.order_date, t.category_code)
        .where(t.category_code.is_not(None))
        .order_by(t.category_code, t.order_date, t.id)
    )  # fmt: skip
    category: str | None = None
    ends = date.min
    started = date.min
    chunk: list[Raw] = []
    # Options on the statement: Connection.execution_options would change the connection.
    result = conn.execute(query.execution_options(stream_results=True, yield_per=10_000))
    for rows in result.partitions():
        for row in rows:
            day = row[6]
            if row[7] != category or day >= ends:
                if chunk:
                    yield category, quarter_of(started), chunk  # type: ignore[misc]
                category, started, ends, chunk = row[7], day, _quarter_end(day), []
            chunk.append(row[:7])  # type: ignore[arg-type]
    if chunk:
        yield category, quarter_of(started), chunk  # type: ignore[misc]


def price_outliers(conn: Connection) -> Iterable[Outlier]:
    for category_code, quarter, orders in _chunks(conn):
        yield from outliers_in(category_code, quarter, orders)
