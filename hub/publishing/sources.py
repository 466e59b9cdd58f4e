"""Relays (转发): the metadata a relayed record carries, its checks, and each delivery's row.

A regional site or trading platform relays records first published by others within its
own scope (issue 17, design §2). Every accepted record gets a `record_sources` row per
account that delivered it; a record already held, delivered again by another account with
the same content, gains a row (and a `source` change) instead of becoming a second record.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, literal, select

from hub.config import SETTINGS
from hub.publishing.cells import check_string, iso_datetime
from hub.publishing.changes import record_change
from hub.publishing.dialect import (
    driver_value_converter,
    insert_ignoring_conflicts,
    raw_insert_sql,
)
from hub.publishing.errors import FieldError, RecordError
from hub.publishing.publishers import RELAY_ROLES, PublisherAccount
from schema.tables import PUBLISHERS
from schema.tables import RECORD_SOURCES as SOURCES
from schema.types import PublisherRole, RecordKind

MAX_HOPS = 16  # a path longer than the network is deep is a loop or a mistake
MAX_RELAY_TEXT = 2_048  # bytes of a publisher or hub name, a site URL
FIELDS = frozenset({"originalPublisher", "originalRole", "sourceSite", "firstPublishedAt", "hops"})
log = logging.getLogger("caigou.publish")


def this_hub() -> str:
    """This hub's name on a relay path: its public URL (CAIGOU_PUBLIC_URL)."""
    variable, default, _ = SETTINGS["public_url"]
    return os.environ.get(variable) or default


@dataclass(frozen=True)
class Relay:
    """Where a record was first published and the hubs it passed before this one."""

    original_publisher: str
    original_role: PublisherRole
    source_site: str | None
    first_published_at: datetime
    hops: tuple[tuple[str, datetime], ...]


def read_relay(raw: Any, account: PublisherAccount, kind: RecordKind, hub: str) -> Relay | None:
    """The record's `relay` checked (None: published directly), or a RecordError naming each
    faulty field as `relay.…`.

    Only the original publisher's role decides whether a kind may be published at all: a
    provincial site registered for penalties relays its finance department's records, and
    publishes none of its own.
    """
    if raw is None:
        if kind is RecordKind.penalty and account.role is not PublisherRole.finance_department:
            raise FieldError("relay", f"{account.name} ({account.role}) publishes no penalty "
                             "records of its own: only a finance department does; relay its "
                             "records with relay.originalPublisher")  # fmt: skip
        return None
    if account.role not in RELAY_ROLES:
        raise FieldError("relay", f"{account.name} ({account.role}) may not relay records: "
                         "only regional_site and trading_platform accounts relay")  # fmt: skip
    if not isinstance(raw, Mapping):
        raise FieldError("relay", "must be an object")
    faults: list[FieldError] = [
        FieldError(f"relay.{key}", "is not a relay field") for key in raw if key not in FIELDS
    ]

    def check(field: str, read: Any) -> Any:
        try:
            return read()
        except FieldError as error:
            faults.append(error)
            return None

    original = check("originalPublisher", lambda: _name(raw.get("originalPublisher"),
                                                        "relay.originalPublisher"))  # fmt: skip
    role = check("originalRole", lambda: _role(raw.get("originalRole"), kind))
    site = raw.get("sourceSite")
    if site is not None and (not isinstance(site, str) or not site.strip()):
        faults.append(FieldError("relay.sourceSite", "must be a non-empty string when given"))
    elif site is not None:
        check("sourceSite", lambda: check_string("relay.sourceSite", site, MAX_RELAY_TEXT))
    first = check("firstPublishedAt", lambda: _time(raw.get("firstPublishedAt"),
                                                    "relay.firstPublishedAt"))  # fmt: skip
    hops = check("hops", lambda: _hops(raw.get("hops"), hub))
    if faults:
        raise RecordError(faults)
    return Relay(original, role, site.strip() if site else None, first, hops)


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field, "is required (the name of the publisher that first published it)")
    check_string(field, value, MAX_RELAY_TEXT)  # stored, fed and pushed on: a cell's checks
    return value.strip()


def _role(value: Any, kind: RecordKind) -> PublisherRole:
    try:
        role = PublisherRole(value)
    except ValueError:
        raise FieldError("relay.originalRole", f"{value!r} is not one of "
                         f"{', '.join(PublisherRole)}") from None  # fmt: skip
    if kind is RecordKind.penalty and role is not PublisherRole.finance_department:
        raise FieldError("relay.originalRole", f"{role}: penalty records are first published "
                         "by a finance department alone (财政部门)")  # fmt: skip
    return role


def _time(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        value = value.isoformat()
    if value is None:
        raise FieldError(field, "is required (an ISO 8601 date-time)")
    if value.__class__ is str:
        try:
            return _read_time(value)
        except FieldError:
            pass  # read again below, the error naming this field
    return iso_datetime(value, field)


@lru_cache(maxsize=4096)
def _read_time(text: str) -> datetime:
    """A relay time's text read once: the hops' times repeat across a batch's entries (only a
    valid time is kept, and a valid time stays valid)."""
    return iso_datetime(text, "time")


def _hops(value: Any, here: str) -> tuple[tuple[str, datetime], ...]:
    """The path so far; this hub on it already would make the record go round in a loop."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError("relay.hops", "must be a list of {hub, receivedAt}")
    if len(value) >= MAX_HOPS:
        raise FieldError("relay.hops", f"{len(value)} hops: at most {MAX_HOPS - 1}")
    hops = []
    for i, hop in enumerate(value):
        where = f"relay.hops[{i}]"
        if not isinstance(hop, Mapping):
            raise FieldError(where, "must be an object {hub, receivedAt}")
        hub = _name(hop.get("hub"), f"{where}.hub")
        if hub == here:
            raise FieldError(f"{where}.hub", f"{hub} is this hub: the record went round a loop")
        hops.append((hub, _time(hop.get("receivedAt"), f"{where}.receivedAt")))
    return tuple(hops)


def direct(account: PublisherAccount, source_site: str | None, published_at: datetime) -> Relay:
    """A record its publisher pushed itself: it is its own original, with no hops before."""
    return Relay(account.name, account.role, source_site, published_at, ())


def source_site_of(relay: Relay | None, delivered_by: str | None) -> str | None:
    """The site a record came from: where it was first published, for a relay."""
    return relay.source_site if relay is not None else delivered_by


@dataclass(frozen=True)
class Delivery:
    """Who delivered a batch to which hub, when: the last hop of each record's path."""

    account: PublisherAccount
    hub: str
    received_at: datetime


def _row(kind: RecordKind, record_id: int, by: Delivery, relay: Relay) -> dict[str, Any]:
    received_at, account = by.received_at, by.account
    return {
        "kind": kind.value, "record_id": record_id, "publisher_id": account.id,
        "original_publisher": relay.original_publisher,
        "original_role": relay.original_role.value, "source_site": relay.source_site,
        "first_published_at": relay.first_published_at, "received_at": received_at,
        "hops": _path(relay, by),
    }  # fmt: skip


def _path(relay: Relay, by: Delivery) -> str:
    """The record's path as stored: the relay's hops, then this hub's arrival."""
    path = [*relay.hops, (by.hub, by.received_at)]
    return orjson.dumps([{"hub": hub, "receivedAt": at.isoformat()} for hub, at in path]).decode()


def add_source(
    conn: Connection, kind: RecordKind, record_id: int, by: Delivery, relay: Relay
) -> bool:
    """Keep this delivery of the record; False when this account had delivered it already."""
    row = _row(kind, record_id, by, relay)
    # RETURNING, not rowcount: psycopg gives -1 (true) for an INSERT … ON CONFLICT DO NOTHING
    # that inserted nothing here, and every re-delivery became a new source in the feed.
    statement = insert_ignoring_conflicts(conn, SOURCES).values(**row).returning(SOURCES.c.id)
    return conn.execute(statement).first() is not None


def add_sources(
    conn: Connection,
    kind: RecordKind,
    table: Any,
    key_column: Any,
    by: Delivery,
    delivered: list[tuple[str, Relay | None]],
) -> None:
    """The sources of records just bulk-inserted by `account`, found by their natural key
    (a relay None: a direct delivery, its source read from the stored row)."""
    _add_direct_sources(conn, kind, table, key_column, by, [k for k, r in delivered if not r])
    relayed = [(key, relay) for key, relay in delivered if relay is not None]
    keys = [key for key, _ in relayed]
    ids: dict[str, int] = {}
    for start in range(0, len(keys), 900):
        query = select(key_column, table.c.id).where(
            table.c.publisher_id == by.account.id, key_column.in_(keys[start : start + 900])
        )
        ids.update({key: pk for key, pk in conn.execute(query)})
    if relayed:
        # A batch's records share a few Relay objects: each one's values are made once, and
        # the rows go through the driver's executemany (the pipeline's bulk path).
        shared: dict[int, tuple[Any, ...]] = {}
        convert = driver_value_converter(conn) or (lambda value: value)
        for _, relay in relayed:
            if id(relay) not in shared:
                row = _row(kind, 0, by, relay)
                shared[id(relay)] = tuple(convert(row[c]) for c in _COLUMNS)
        at = _COLUMNS.index("record_id")
        rows = [(*shared[id(r)][:at], ids[key], *shared[id(r)][at + 1 :]) for key, r in relayed]
        conn.exec_driver_sql(raw_insert_sql(conn, SOURCES, _COLUMNS), rows)


_COLUMNS = ("kind", "record_id", "publisher_id", "original_publisher", "original_role",
            "source_site", "first_published_at", "received_at", "hops")  # fmt: skip


def _add_direct_sources(
    conn: Connection, kind: RecordKind, table: Any, key_column: Any, by: Delivery,
    keys: list[str],
) -> None:  # fmt: skip
    """Direct deliveries in one INSERT … SELECT a chunk: a million orders build no Python row
    each (that halved `bench/ingest.py`'s rows/s). The same values `_row` gives a direct
    Relay: the stored row's site and publish time, the path [this hub]."""
    hops = orjson.dumps([{"hub": by.hub, "receivedAt": by.received_at.isoformat()}]).decode()
    columns = list(_COLUMNS)
    for start in range(0, len(keys), 900):
        chunk = keys[start : start + 900]
        rows = select(
            literal(kind.value), table.c.id, table.c.publisher_id, literal(by.account.name),
            literal(by.account.role.value), table.c.source_site, table.c.published_at,
            table.c.received_at, literal(hops),
        ).where(table.c.publisher_id == by.account.id, key_column.in_(chunk))  # fmt: skip
        conn.execute(SOURCES.insert().from_select(columns, rows))


def add_second_source(
    conn: Connection,
    kind: RecordKind,
    record_id: int,
    by: Delivery,
    relay: Relay,
    digest: str,
    ocid: str | None,
) -> bool:
    """A record already held arrived again: a new delivering account is a new source, and
    the change feed says so (action `source`); the same account again changes nothing."""
    if not add_source(conn, kind, record_id, by, relay):
        return False
    record_change(conn, kind, record_id, "source", digest, ocid)
    return True


def held_by_originals(
    conn: Connection, kind: RecordKind, table: Any, key_column: Any, keys: list[str],
    account: PublisherAccount,
) -> tuple[dict[tuple[str, str], Any], set[str]]:  # fmt: skip
    """Stored records with these natural keys, by (original publisher, key): (id,
    content_hash); and the keys `account` delivered already (one record per key each).

    Two look-ups, not a join: the records by key (an index scan, usually finding none in a
    batch of new orders), then only their sources. Joined, SQLite walked the sources of
    every stored transaction for each chunk, halving `bench/ingest.py`'s rows/s.
    """
    held: dict[tuple[str, str], Any] = {}
    mine: set[str] = set()
    found: dict[int, Any] = {}
    for start in range(0, len(keys), 900):
        rows = conn.execute(
            select(table.c.id, table.c.content_hash, table.c.publisher_id,
                   key_column.label("key"))
            .where(key_column.in_(keys[start : start + 900]))
        )  # fmt: skip
        found.update({row.id: row for row in rows})
    ids = sorted(found)
    for start in range(0, len(ids), 900):
        sources = conn.execute(
            select(SOURCES.c.record_id, SOURCES.c.original_publisher).where(
                SOURCES.c.kind == kind.value, SOURCES.c.record_id.in_(ids[start : start + 900])
            )
        )
        for record_id, original in sources:
            row = found[record_id]
            held[(original, row.key)] = row
    mine.update(row.key for row in found.values() if row.publisher_id == account.id)
    return held, mine


def conflict(
    conn: Connection,
    field: str,
    message: str,
    held: tuple[RecordKind, int, int] | None,
    relay: Relay | None,
    account: PublisherAccount,
) -> FieldError:
    """The refusal of a record held with other content. When the holder is another account
    that relayed it naming this one as its first publisher, and this one now delivers it
    itself, the refusal says who: the hub cannot tell which is right (a relay's claim is not
    signed), but the publisher can, and the operators are told in the log."""
    if relay is not None or held is None or held[2] == account.id:
        return FieldError(field, message)
    kind, record_id, held_by = held  # the record's kind and id, the account that holds it
    s = SOURCES.c
    claimed = conn.execute(
        select(PUBLISHERS.c.name)
        .join(SOURCES, s.publisher_id == PUBLISHERS.c.id)
        .where(s.kind == kind.value, s.record_id == record_id, s.publisher_id == held_by,
               s.original_publisher == account.name)
    ).first()  # fmt: skip
    if claimed is None:  # held by another account as its own (a notice): nothing to name
        return FieldError(field, message)
    name = claimed.name
    log.warning("%s: %s delivered %s held as relayed by %s naming it as first publisher, with "
                "other content", field, account.name, message.split(";")[0], name)  # fmt: skip
    return FieldError(field, f"{message} (held as relayed by {name}, which named "
                      f"{account.name} as its first publisher: if {account.name} did not "
                      "publish that version, tell this hub's operators)")  # fmt: skip
