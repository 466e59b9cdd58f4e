"""Framework-agreement, designated and e-mall orders as the trading platform exports them.

A million rows must take seconds, so everything a row needs is precomputed into tuples
(names, credit codes, price strings, amounts in fen) and rows stream through csv.writer;
memory stays flat however many rows are asked for.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

from hub.demo.parties import Party, Province, name_variant
from hub.demo.products import PRODUCTS, Product
from hub.demo.published import PublishClock
from hub.demo.workdays import is_workday

COLUMNS = (
    "order_id", "channel", "purchaser_name", "purchaser_uscc", "supplier_name", "supplier_uscc",
    "item_name", "brand", "model", "category_code", "quantity", "unit", "unit_price", "amount",
    "order_date", "region_code", "agreement_id", "published_at",
)  # fmt: skip
CHANNEL_WORDS = {"emall": "电子卖场", "framework": "协议供货", "designated": "定点采购"}
SLOPPY_SHARE = 10  # one supplier in ten is sometimes typed by name only
MISMATCH_RATE = 0.005  # rows whose amount ≠ quantity × unit price, for the hub to find
# One order a quarter of the best-selling model is charged OUTLIER_FACTOR times its price,
# once OUTLIER_AFTER orders from as many purchasers give the hub peers to compare it with.
OUTLIER_PRODUCT = 0
OUTLIER_AFTER = 12
OUTLIER_FACTOR = 3


class _Offer(NamedTuple):
    """A product as rows need it: fixed cells, price points, quantities and its sellers."""

    cells: tuple[str, str, str, str]  # item_name, brand, model, category_code
    unit: str
    prices: tuple[tuple[str, int], ...]  # (unit price as written, fen)
    quantities: tuple[tuple[str, int], ...]  # (quantity as written, tenths)
    sellers: tuple[int, ...]
    service: bool
    agreement: str


def _fen(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _tenths(quantity: str) -> int:
    whole, _, fraction = quantity.partition(".")
    return int(whole) * 10 + int(fraction or 0)


def _price_points(rng: random.Random, product: Product, whole_yuan: bool) -> tuple[int, ...]:
    """A few prices per model, as different suppliers and months quote it."""
    points = set()
    for _ in range(8):
        price = product.price * rng.uniform(0.92, 1.08)
        if whole_yuan or price >= 1000:
            fen = round(price / 10) * 1000 - (100 if price >= 1000 and rng.random() < 0.5 else 0)
        elif price >= 50:
            fen = round(price * 2) * 50
        else:
            fen = round(price * 20) * 5
        points.add(max(fen, 5))
    return tuple(sorted(points))


def _offers(rng: random.Random, suppliers: list[Party], province: Province) -> list[_Offer]:
    index = {party.uscc: i for i, party in enumerate(suppliers)}
    brands: dict[str, str] = {}
    offers = []
    for product in PRODUCTS:
        quantities = tuple((q, _tenths(q)) for q in product.quantities)
        whole_yuan = any(tenths % 10 for _, tenths in quantities)  # keeps amounts exact
        prices = tuple((_fen(f), f) for f in _price_points(rng, product, whole_yuan))
        sellers = tuple(
            index[s.uscc] for trade in product.trades for s in province.suppliers[trade]
        )
        service = product.code.startswith("C")
        agreement = ""
        if not service:
            agreement = brands.setdefault(product.brand, f"JLXY2024-{len(brands) + 1:03d}")
        cells = (product.item, product.brand, product.model, product.code)
        offers.append(_Offer(cells, product.unit, prices, quantities, sellers, service, agreement))
    return offers


def _order_days() -> list[str]:
    """2024's days, working days three times over: most orders are placed at work."""
    days = []
    day = date(2024, 1, 1)
    while day.year == 2024:
        days.extend([day.isoformat()] * (3 if is_workday(day) else 1))
        day += timedelta(days=1)
    return days


def write_transactions(
    path: Path, rng: random.Random, province: Province, count: int,
    outliers: list[str] | None = None, clock: PublishClock | None = None,
) -> list[Party]:  # fmt: skip
    """Write `count` orders; returns the suppliers that appeared with their credit code.

    Each order is published (`published_at`) by `clock`, on its own generator, so the other
    cells are the same whichever publish times are drawn.

    With `outliers`, a few orders are overpriced on purpose and their ids appended to it; the
    other rows are the same either way (planting draws no random numbers)."""
    trades = {trade for product in PRODUCTS for trade in product.trades}
    suppliers = [s for trade, pool in province.suppliers.items() if trade in trades for s in pool]
    sloppy = set(rng.sample(range(len(suppliers)), len(suppliers) // SLOPPY_SHARE))
    seller_cells = [
        (s.name, s.uscc, name_variant(rng, s.name) if i in sloppy else "")
        for i, s in enumerate(suppliers)
    ]
    offers = _offers(rng, suppliers, province)
    weighted = [i for i, product in enumerate(PRODUCTS) for _ in range(product.weight)]
    buyers = [(p.name, p.uscc, p.region) for p in province.purchasers]
    days = _order_days()
    clock = clock or PublishClock(random.Random(0))
    seen: set[int] = set()
    rand = rng.random  # seq[int(rand() * len(seq))]: a third of rng.choice's cost
    products, customers = len(weighted), len(buyers)
    number = rng.randrange(100_000, 1_000_000)
    quarters: dict[str, list[str]] = {}  # purchasers of OUTLIER_PRODUCT's orders so far
    planted: set[str] = set()  # quarters that have their outlier
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for position in range(count):
            product = weighted[int(rand() * products)]
            offer = offers[product]
            buyer_name, buyer_code, region = buyers[int(rand() * customers)]
            sellers, quantities, prices = offer.sellers, offer.quantities, offer.prices
            seller = sellers[int(rand() * len(sellers))]
            seller_name, seller_code, variant = seller_cells[seller]
            if variant and seller in seen and rand() < 0.5:
                seller_name, seller_code = variant, ""  # known elsewhere by its code
            else:
                seen.add(seller)
            if offer.service:
                channel, agreement = "designated", ""
            elif rand() < 0.45:
                channel, agreement = "framework", offer.agreement
            else:
                channel, agreement = "emall", ""
            if rand() < 0.04:
                channel = CHANNEL_WORDS[channel]
            quantity, tenths = quantities[int(rand() * len(quantities))]
            price, fen = prices[int(rand() * len(prices))]
            amount = tenths * fen // 10
            if rand() < MISMATCH_RATE:
                amount = amount * 10 if rand() < 0.3 else amount + rng.choice((1, 100, 1000, 10000))
            number += 1 + int(rand() * 3)
            item, brand, model, code = offer.cells
            day = days[position * len(days) // count]
            if product == OUTLIER_PRODUCT and outliers is not None:
                quarter = day[:4] + str((int(day[5:7]) - 1) // 3)
                peers = quarters.setdefault(quarter, [])
                if quarter not in planted and len(set(peers)) >= OUTLIER_AFTER:
                    fen *= OUTLIER_FACTOR
                    price, amount = _fen(fen), tenths * fen // 10
                    outliers.append(f"DD2024{number:08d}")
                    planted.add(quarter)
                elif quarter not in planted:
                    peers.append(buyer_code)
            writer.writerow((
                f"DD2024{number:08d}", channel, buyer_name, buyer_code, seller_name, seller_code,
                item, brand, model, code, quantity, offer.unit, price, _fen(amount),
                day, region, agreement, clock.order(day),
            ))  # fmt: skip
    return [suppliers[i] for i in sorted(seen)]
