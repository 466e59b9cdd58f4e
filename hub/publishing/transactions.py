"""Framework-agreement, designated and e-mall transaction records, in bulk.

The hot path of the hub: a million rows must go in at least half as fast as a bare
executemany (bench/ingest.py), so rows are validated into tuples and written with the
driver's executemany, chunk by chunk, inside the batch's one transaction.

Rows as e-malls publish them: unit prices to 0.0001 yuan (paper by the sheet), services
without a model, returns as negative quantities (`returns.py`), and columns of the
platform's own (order_status, …) kept in the payload and named once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
from sqlalchemy import select

from hub.publishing.batch import BatchContext, content_hash
from hub.publishing.cells import (
    MAX_MONEY,
    MAX_QUANTITY,
    check_record,
    check_string,
    field_name,
    iso_date,
    iso_datetime,
    optional,
    record_ref,
    region_read,
    required,
    scaled,
    shown,
)
from hub.publishing.dialect import driver_value_converter, raw_insert_sql
from hub.publishing.errors import FieldError, RecordError, each_field_once
from hub.publishing.parties import Note
from hub.publishing.publishers import NATIONWIDE
from hub.publishing.returns import Issue, ReturnChecks, return_link
from hub.publishing.sources import Relay, add_second_source, add_sources, conflict, direct
from hub.publishing.sources import held_by_originals as held_orders
from schema.codes import CodeError, check_category, is_region_code
from schema.tables import DATA_QUALITY_ISSUES as ISSUES
from schema.tables import TRANSACTIONS as TABLE
from schema.types import Channel, PartyRole, RecordKind

COLUMNS = (
    "order_id", "channel", "purchaser_name", "purchaser_uscc", "supplier_name", "supplier_uscc",
    "item_name", "brand", "model", "category_code", "quantity", "unit", "unit_price", "amount",
    "order_date", "region_code", "agreement_id",
)  # fmt: skip
OPTIONAL_COLUMNS = frozenset(
    {"purchaser_uscc", "supplier_uscc", "brand", "category_code", "agreement_id", "unit", "model"}
)
EXTRA_COLUMNS = frozenset({"category_edition", "published_at", "return_of"})
KNOWN = frozenset(COLUMNS) | EXTRA_COLUMNS
CHANNELS = {c.value: c.value for c in Channel} | {
    "协议供货": Channel.framework.value,
    "定点采购": Channel.designated.value,
    "电子卖场": Channel.emall.value,
}
INSERT_COLUMNS = (
    "order_id", "channel", "purchaser_id", "supplier_id", "item_name", "brand", "model",
    "category_code", "category_edition", "quantity", "unit", "unit_price", "amount", "order_date",
    "region_code", "agreement_id", "publisher_id", "source_site", "published_at", "received_at",
    "payload", "content_hash", "return_of",
)  # fmt: skip
CHUNK = 5_000
PRICE_PLACES = 4  # unit prices in 0.0001 yuan (schema.columns.UnitPrice)
SERVICES = "C"  # 政府采购品目分类目录: A goods, B works, C services
UNKNOWN_SHOWN = 20
MAX_NAME_BYTES = 256  # an unknown column's name


class ParsedOrder(NamedTuple):
    """A checked row; the first 18 fields are its content, hashed for idempotency."""

    order_id: str
    channel: str
    purchaser_name: str
    purchaser_uscc: str | None
    supplier_name: str
    supplier_uscc: str | None
    item_name: str
    brand: str | None
    model: str | None
    category_code: str | None
    category_edition: str | None
    quantity: int  # thousandths; negative for a return
    unit: str | None
    unit_price: int  # 0.0001 yuan
    amount: int  # fen; negative for a return
    order_date: date
    region_code: str
    agreement_id: str | None
    return_of: str | None  # the order a return returns (hashed only when set)
    mismatch: str | None  # why amount ≠ quantity × unit price, if it is not
    published_at: Any  # in the driver's form
    region_note: Note | None = None  # how a region name was read, for data quality


CONTENT_FIELDS = 18


def content(order: ParsedOrder) -> tuple[Any, ...]:
    """What the content hash covers: the same values as before unit prices had four places
    (a price in whole fen hashes as fen), so a file held before still counts as a duplicate."""
    price: Any = order.unit_price
    price = price // 100 if price % 100 == 0 else str(Decimal(price).scaleb(-PRICE_PLACES))
    head = (*order[:13], price, *order[14:CONTENT_FIELDS])
    return head if order.return_of is None else (*head, order.return_of)


class TransactionHandler:
    def __init__(self, ctx: BatchContext) -> None:
        self.ctx = ctx
        self.pending: list[tuple[int, Mapping[str, Any], ParsedOrder, Relay | None]] = []
        self.sql = raw_insert_sql(ctx.conn, TABLE, INSERT_COLUMNS)
        self.outbox_sql = _outbox_sql(ctx.conn)
        self.convert = driver_value_converter(ctx.conn)
        self.received = self.convert(ctx.received_at) if self.convert else ctx.received_at
        self._categories: dict[tuple[str, str | None], str] = {}
        # Checked once per batch: valid region codes in scope, and registration divisions
        # of purchasers' credit codes that passed (two sets: a registration that is no
        # region code must never let a `region_code` skip its own check).
        self._regions_ok: dict[str, tuple[str, Note | None]] = {}
        self._registrations_ok: set[str] = set()
        self._unknown_seen: set[str] = set()
        self._returns = ReturnChecks()

    def add(self, position: int, raw: Mapping[str, Any]) -> None:
        try:
            row = self.parse(raw)
        except FieldError as error:
            self.ctx.report.refuse(position, record_ref(raw, "order_id"), error, raw)
            return
        if not raw.keys() <= KNOWN:
            self._note_unknown(position, raw)
        self.pending.append((position, raw, row, self.ctx.relay))
        if len(self.pending) >= CHUNK:
            self.flush()

    def parse(self, raw: Mapping[str, Any]) -> ParsedOrder:
        """The checked row (parties not yet resolved), or a RecordError naming every fault.

        Read straight through first: most rows are valid, and that path pays nothing for
        collecting. A row that fails is read again collecting each fault, so its publisher
        fixes them all in one round, as a release's faults are reported.
        """
        try:
            return self._parse(raw, None)
        except FieldError as first:
            faults: list[FieldError] = []
            try:
                self._parse(raw, faults)
            except FieldError as error:  # a whole-record check nothing else can follow
                faults.append(error)
            raise RecordError(each_field_once(faults or [first])) from None

    def _parse(self, raw: Mapping[str, Any], faults: list[FieldError] | None) -> ParsedOrder:
        """One reading of the row: the first fault raises, or with `faults`, each is added
        there and the checks that need a faulty value are skipped."""

        def step(read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            if faults is None:
                return read(*args, **kwargs)
            try:
                return read(*args, **kwargs)
            except FieldError as error:
                faults.append(error)
                return None

        if not raw.keys() <= KNOWN:  # kept, and named once (`_note_unknown`), if printable
            for name in raw.keys() - KNOWN:
                check_string(field_name(name), name, MAX_NAME_BYTES)
        check_record(raw, None)
        channel = step(self._channel, raw)
        read = step(self._region, raw)
        region_code, region_note = read if read else ("", None)
        purchaser_code = optional(raw, "purchaser_uscc")
        supplier_code = optional(raw, "supplier_uscc")
        if purchaser_code:
            purchaser_code = step(self.ctx.parties.check_code, purchaser_code, "purchaser_uscc")
            if purchaser_code:
                step(self._check_purchaser_scope, purchaser_code)
        if supplier_code:
            supplier_code = step(self.ctx.parties.check_code, supplier_code, "supplier_uscc")
        category = optional(raw, "category_code")
        edition = None
        before = len(faults or ())
        if category:
            edition = step(self._category_edition, category, optional(raw, "category_edition"))
        model = optional(raw, "model")
        category_read = len(faults or ()) == before
        if model is None and category_read and not (category and category.startswith(SERVICES)):
            step(_model_required)
        quantity = step(scaled, raw, "quantity", places=3, maximum=MAX_QUANTITY, signed=True)
        unit_price = step(_unit_price, raw)
        amount = step(scaled, raw, "amount", places=2, maximum=MAX_MONEY, signed=True)
        order_id = step(required, raw, "order_id")
        return_of = None
        if None not in (order_id, quantity, amount):
            return_of = step(return_link, order_id, quantity, amount, optional(raw, "return_of"))
        order_date = step(iso_date, raw, "order_date")
        names = [step(required, raw, name)
                 for name in ("purchaser_name", "supplier_name", "item_name")]  # fmt: skip
        published_at = step(self._published_at, raw)
        if faults:
            raise RecordError(faults)
        return ParsedOrder(
            order_id, channel, names[0], purchaser_code, names[1], supplier_code, names[2],
            optional(raw, "brand"), model, category, edition, quantity,
            optional(raw, "unit"), unit_price, amount, order_date, region_code,
            optional(raw, "agreement_id"), return_of, mismatch(quantity, unit_price, amount),
            published_at, region_note,
        )  # fmt: skip

    def _channel(self, raw: Mapping[str, Any]) -> str:
        channel = CHANNELS.get(str(raw.get("channel") or "").strip())
        if channel is None:
            raise FieldError(
                "channel", f"{shown(raw.get('channel'))} is not one of {', '.join(CHANNELS)}"
            )
        return channel

    def _region(self, raw: Mapping[str, Any]) -> tuple[str, Note | None]:
        """The row's region code (a GB/T 2260 name read as its code), in the publisher's scope;
        checked once per distinct value in a batch."""
        given = raw.get("region_code")
        read = self._regions_ok.get(given)  # type: ignore[arg-type]
        if read is None:
            read = region_read(raw)
            if not self.ctx.publisher.covers_region(read[0]):
                raise FieldError(
                    "region_code", f"{read[0]} is outside {self.ctx.publisher.name}'s scope"
                )
            self._regions_ok[given] = read  # type: ignore[index]
        return read

    def _note_unknown(self, position: int, raw: Mapping[str, Any]) -> None:
        """Columns the hub does not read: kept in the payload, named once per batch."""
        new = sorted(k for k in raw if k not in KNOWN and k not in self._unknown_seen)
        if not new:
            return
        self._unknown_seen.update(new)
        names = ", ".join(field_name(k) if k else "(unnamed)" for k in new[:UNKNOWN_SHOWN])
        more = f" and {len(new) - UNKNOWN_SHOWN} more" if len(new) > UNKNOWN_SHOWN else ""
        self.ctx.report.warn(
            f"unknown column{'s' if len(new) > 1 else ''} {names}{more} (first in record "
            f"{position}): not read, kept as received in each record's payload"
        )

    def _check_purchaser_scope(self, code: str) -> None:
        """A purchaser registered in another region (credit code characters 3–8) cannot buy
        through this publisher's platform: the order would land on that region's purchaser.
        Central units (100000) buy everywhere; a supplier may come from anywhere."""
        registered = code[2:8]
        if registered in self._registrations_ok or registered == NATIONWIDE:
            return
        publisher = self.ctx.publisher
        if is_region_code(registered) and not publisher.covers_region(registered):
            scope = f"{publisher.name}'s scope ({', '.join(publisher.regions)})"
            raise FieldError("purchaser_uscc", f"{code} is registered in {registered}, outside "
                             f"{scope}")  # fmt: skip
        self._registrations_ok.add(registered)

    def _published_at(self, raw: Mapping[str, Any]) -> Any:
        """The publisher's publish time when the row gives one, else its relay's first
        publication, else the batch's arrival."""
        value = raw.get("published_at")
        if not value and self.ctx.relay is not None:
            first = self.ctx.relay.first_published_at
            return self.convert(first) if self.convert else first
        if not value:
            return self.received
        published = iso_datetime(value, "published_at")
        return self.convert(published) if self.convert else published

    def _category_edition(self, code: str, edition: str | None) -> str:
        key = (code, edition)
        found = self._categories.get(key)
        if found is None:
            try:
                found = check_category(code, edition)
            except CodeError as exc:
                raise FieldError("category_code", str(exc)) from None
            self._categories[key] = found
        return found

    def flush(self) -> None:
        """Write the pending rows. An order is its order id and original publisher, whoever
        delivered it: delivered again by another site it gains a source (sources.py)."""
        pending, self.pending = self.pending, []
        ctx = self.ctx
        if not pending or not ctx.report.writing:
            return
        kind = RecordKind.transaction
        order_ids = [order.order_id for _, _, order, _ in pending]
        existing, mine = held_orders(ctx.conn, kind, TABLE, TABLE.c.order_id, order_ids,
                                     ctx.publisher)  # fmt: skip
        rows: list[tuple[Any, ...]] = []
        issues: list[Issue] = []
        seen: dict[tuple[str, str], str] = {}
        delivered: list[tuple[str, Relay | None]] = []
        convert = self.convert
        resolve = ctx.parties.resolve
        for position, raw, order, relayed in pending:
            order_id = order.order_id
            digest = content_hash(content(order))
            site = relayed.source_site if relayed else ctx.source_site
            relay = relayed or direct(ctx.publisher, site, _moment(order.published_at))
            key = (relay.original_publisher, order_id)
            stored = existing.get(key)
            held = stored.content_hash if stored else seen.get(key)
            if held is not None:
                if held == digest:
                    ctx.report.duplicates += 1
                    if stored is not None:
                        add_second_source(ctx.conn, kind, stored.id, ctx.delivery, relay,
                                          digest, None)  # fmt: skip
                else:
                    error = conflict(ctx.conn, "order_id", "already published with different "
                                     "content; records are immutable, publish a new order id",
                                     (kind, stored.id, stored.publisher_id) if stored else None,
                                     relayed,
                                     ctx.publisher)  # fmt: skip
                    ctx.report.refuse(position, order_id, error, raw)
                continue
            if order_id in mine:
                error = FieldError("order_id", f"{ctx.publisher.name} already delivered an order "
                                   f"{order_id} first published by another publisher than "
                                   f"{relay.original_publisher}")  # fmt: skip
                ctx.report.refuse(position, order_id, error, raw)
                continue
            seen[key] = digest
            mine.add(order_id)
            delivered.append((order_id, relayed))
            purchaser = resolve(
                order.purchaser_name, order.purchaser_uscc, order.region_code, PartyRole.purchaser
            )
            supplier = resolve(order.supplier_name, order.supplier_uscc, None, PartyRole.supplier)
            if order.mismatch:
                issues.append((order_id, "amount", "amount_mismatch", order.mismatch))
            if order.region_note:
                issues.append((order_id, *order.region_note))
            if order.quantity < 0:
                self._returns.add(order_id, order.return_of)
            rows.append((
                order_id, order.channel, purchaser, supplier, order.item_name, order.brand,
                order.model, order.category_code, order.category_edition, order.quantity,
                order.unit, order.unit_price, order.amount,
                convert(order.order_date) if convert else order.order_date,
                order.region_code, order.agreement_id, ctx.publisher.id, site,
                order.published_at, self.received, orjson.dumps(raw).decode(), digest,
                order.return_of,
            ))  # fmt: skip
        if not ctx.report.writing:
            return
        if rows:
            ctx.conn.exec_driver_sql(self.sql, rows)
            ctx.report.accepted += len(rows)
            add_sources(ctx.conn, kind, TABLE, TABLE.c.order_id, ctx.delivery, delivered)
            order_ids = [row[0] for row in rows]
            ids = orjson.dumps(order_ids).decode() if self.convert else order_ids
            ctx.conn.exec_driver_sql(self.outbox_sql, (self.received, ctx.publisher.id, ids))
            ctx.parties.enqueue_changed(ctx.received_at)
        if issues:
            self._record_issues(issues)

    def _record_issues(self, issues: list[Issue]) -> None:
        ids = {
            r.order_id: r.id
            for r in self.ctx.conn.execute(
                select(TABLE.c.id, TABLE.c.order_id).where(
                    TABLE.c.publisher_id == self.ctx.publisher.id,
                    TABLE.c.order_id.in_(sorted({issue[0] for issue in issues})),
                )
            )
        }
        self.ctx.conn.execute(
            ISSUES.insert(),
            [
                {
                    "record_kind": RecordKind.transaction.value,
                    "record_pk": ids[order_id],
                    "record_ref": order_id,
                    "field_name": field,
                    "code": code,
                    "message": message,
                    "detected_at": self.ctx.received_at,
                }
                for order_id, field, code, message in issues
            ],
        )

    def finish(self) -> None:
        self.flush()
        if self.ctx.report.writing:  # every row of the batch written: originals found wherever
            issues = self._returns.issues(self.ctx.conn, TABLE, self.ctx.publisher.id)
            for start in range(0, len(issues), 900):
                self._record_issues(issues[start : start + 900])


def _moment(value: Any) -> datetime:
    """A publish time as the bulk insert holds it (ISO text on SQLite) back as a datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _unit_price(raw: Mapping[str, Any]) -> int:
    """Never negative: a return's price per unit stays positive, its quantity goes below 0."""
    try:
        return scaled(raw, "unit_price", places=PRICE_PLACES, maximum=MAX_MONEY)
    except FieldError as error:
        if not str(raw.get("unit_price")).lstrip().startswith("-"):
            raise
        hint = "; a return (退货) has a negative quantity and amount, not price"
        raise FieldError(error.field, error.reason + hint) from None


def mismatch(quantity: int, unit_price: int, amount: int) -> str | None:
    """Why the amount is not quantity × unit price, or None when it is.

    The rule: the amount is the product rounded to the fen, or the unit price is the amount
    ÷ quantity rounded to 0.0001 yuan (a price published rounded, 100.00 for 3 at 33.3333);
    within half a fen, or half a last place of the price per unit, whichever is larger.
    In 10^-7 yuan: quantity (10^-3) × price (10^-4) against amount (10^-2) × 10^5.
    """
    off = abs(quantity * unit_price - amount * 100_000)
    if 2 * off <= max(100_000, abs(quantity)):
        return None
    product = (Decimal(quantity * unit_price).scaleb(-7)).quantize(Decimal("0.01"))
    return (
        f"amount {Decimal(amount).scaleb(-2)} ≠ quantity {Decimal(quantity).scaleb(-3)}"
        f" × unit price {Decimal(unit_price).scaleb(-PRICE_PLACES).normalize():f} (= {product})"
    )


def _outbox_sql(conn: Any) -> str:
    """One INSERT … SELECT per chunk writes its search outbox rows: no ids come back to Python.

    The chunk's order ids go as one parameter (a JSON array on SQLite, an array on PostgreSQL)
    and are found through the (order_id, publisher_id) unique index.
    """
    head = (
        "INSERT INTO search_outbox (kind, record_pk, op, created_at, attempts) "
        "SELECT 'transaction', id, 'upsert', {m}, 0 FROM transactions WHERE publisher_id = {m} AND "
    )
    if conn.dialect.name == "sqlite":
        return head.format(m="?") + "order_id IN (SELECT value FROM json_each(?))"
    return head.format(m="%s") + "order_id = ANY(%s)"


def _model_required() -> None:
    raise FieldError("model", "is required for goods and works; only a service "
                     "(服务类品目: a category_code starting with C) may go without")  # fmt: skip
