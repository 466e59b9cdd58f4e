"""The change feed as read by GraphQL (`changes`) and by mirrors (`GET /changes`).

Every accepted record in acceptance order, with its stored payload verbatim: a downstream
that reads the feed from the start and ingests each payload as its publisher holds what this
hub holds. The cursor is the change's `seq`, opaque and stable forever (never reused).
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Select, and_, bindparam, func, select

from hub.read.cursors import shown_value
from hub.read.errors import BadInput
from schema.changes import CHANGES
from schema.tables import NOTICES, PENALTY_RECORDS, PUBLISHERS, TRANSACTIONS
from schema.tables import RECORD_SOURCES as SOURCES
from schema.types import RecordKind

DEFAULT_FIRST = 100
MAX_FIRST = 1_000
_PREFIX = "change:"
_SEQ = re.compile(r"0|[1-9][0-9]{0,18}")


def change_cursor(seq: int) -> str:
    """Opaque base64url of the seq; stable forever (a seq is never reused)."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{seq}".encode()).decode().rstrip("=")


def parse_change_cursor(cursor: str | None, name: str = "after") -> int:
    """The seq a cursor of this feed stands for (0 before the first change), or BadInput."""
    if cursor is None or cursor == "":
        return 0
    try:
        if len(cursor) > 64:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        seq = raw.removeprefix(_PREFIX)
        if not raw.startswith(_PREFIX) or not _SEQ.fullmatch(seq) or int(seq) >= 2**63:
            raise ValueError
        return int(seq)
    except (ValueError, UnicodeDecodeError):
        raise BadInput(
            f"{name}: {shown_value(cursor)} is not a change cursor of this hub"
        ) from None


def parse_kinds(values: Sequence[str] | None, name: str = "kinds") -> list[RecordKind] | None:
    """Record kinds by name (notice, transaction, penalty); None or empty: every kind."""
    if not values:
        return None
    kinds = []
    for value in values:
        try:
            kinds.append(RecordKind(value.strip()))
        except ValueError:
            known = ", ".join(k.value for k in RecordKind)
            raise BadInput(f"{name}: {shown_value(value)} is not one of {known}") from None
    return kinds


def page_size(first: int | None, name: str = "first") -> int:
    if first is None:
        return DEFAULT_FIRST
    if not 1 <= first <= MAX_FIRST:
        raise BadInput(f"{name}: {first} is not between 1 and {MAX_FIRST}")
    return first


@dataclass(frozen=True)
class ChangeRow:
    """One change with what a mirror needs to store the record as its publisher would."""

    seq: int
    kind: str
    action: str
    accepted_at: datetime
    content_hash: str
    ocid: str | None
    record_id: int
    payload: str
    publisher: str
    publisher_role: str
    source_site: str | None
    published_at: datetime
    # this delivery's `record_sources` columns (RELAY_COLUMNS), None when it has no row
    source: tuple[Any, ...] | None = None

    @property
    def cursor(self) -> str:
        return change_cursor(self.seq)

    @property
    def relay(self) -> str | None:
        """The `relay` this delivery came with, as JSON (`relay_json`); spelt when asked, as
        the pusher reads the source's columns themselves."""
        if self.source is None:
            return None
        return relay_json(dict(zip(RELAY_COLUMNS, self.source, strict=True)), self.publisher)

    def as_json(self) -> dict[str, Any]:
        """The NDJSON line: GraphQL's field names (camelCase), times as GraphQL gives them."""
        return {
            "cursor": self.cursor, "seq": self.seq, "kind": self.kind, "action": self.action,
            "acceptedAt": self.accepted_at.isoformat(), "contentHash": self.content_hash,
            "ocid": self.ocid, "recordId": self.record_id, "payload": self.payload,
            "publisher": self.publisher, "publisherRole": self.publisher_role,
            "sourceSite": self.source_site, "publishedAt": self.published_at.isoformat(),
            "relay": self.relay,
        }  # fmt: skip


@dataclass(frozen=True)
class ChangePage:
    rows: list[ChangeRow]
    has_next: bool

    @property
    def end_cursor(self) -> str | None:
        return self.rows[-1].cursor if self.rows else None


def read_changes(
    conn: Connection, after: int, first: int, kinds: Sequence[RecordKind] | None = None
) -> ChangePage:
    """Changes after seq `after`, oldest first, at most `first`, of `kinds` (all by default)."""
    query = _feed_query(tuple(sorted(k.value for k in kinds)) if kinds else ())
    result = conn.execute(query, {"after": after, "limit": first + 1})
    rows = []
    width = len(RELAY_COLUMNS)
    # Positional, in the dataclass's order (checked): a pusher reads every change this way.
    assert tuple(result.keys())[:-width] == _ROW_FIELDS, result.keys()
    for r in result:
        source = r[-width:]
        row = ChangeRow(*r[:-width], source=None if source[0] is None else tuple(source))  # type: ignore[misc]  # the fields, checked above
        rows.append(row)
    return ChangePage(rows[:first], len(rows) > first)


@functools.cache
def _feed_query(kinds: tuple[str, ...]) -> Select[Any]:
    """The feed's statement, built once per set of kinds (building it was a third of a
    pusher's time): `after` and `limit` are bound parameters."""
    c = CHANGES
    n, t, p = NOTICES, TRANSACTIONS, PENALTY_RECORDS
    query = (
        select(
            c.c.seq,
            c.c.kind,
            c.c.action,
            c.c.accepted_at,
            c.c.content_hash,
            c.c.ocid,
            c.c.record_id,
            func.coalesce(n.c.payload, t.c.payload, p.c.payload).label("payload"),
            PUBLISHERS.c.name.label("publisher"),
            PUBLISHERS.c.role.label("publisher_role"),
            c.c.source_site,
            func.coalesce(n.c.published_at, t.c.published_at, p.c.published_at).label(
                "published_at"
            ),
            *(SOURCES.c[name].label(f"relay_{name}") for name in RELAY_COLUMNS),
        )
        .join(PUBLISHERS, PUBLISHERS.c.id == c.c.publisher_id)
        .outerjoin(
            SOURCES,
            and_(
                SOURCES.c.kind == c.c.kind,
                SOURCES.c.record_id == c.c.record_id,
                SOURCES.c.publisher_id == c.c.publisher_id,
            ),
        )
        .outerjoin(n, and_(c.c.kind == RecordKind.notice.value, n.c.id == c.c.record_id))
        .outerjoin(t, and_(c.c.kind == RecordKind.transaction.value, t.c.id == c.c.record_id))
        .outerjoin(p, and_(c.c.kind == RecordKind.penalty.value, p.c.id == c.c.record_id))
        .where(c.c.seq > bindparam("after"))
        .order_by(c.c.seq)
        .limit(bindparam("limit"))
    )
    return query.where(c.c.kind.in_(kinds)) if kinds else query


_ROW_FIELDS = tuple(f.name for f in fields(ChangeRow))[:-1]  # every field but `source`
RELAY_COLUMNS = ("original_publisher", "original_role", "source_site", "first_published_at",
                 "hops")  # fmt: skip


def relay_json(source: dict[str, Any], publisher: str) -> str | None:
    """The `relay` a delivery of another's record came with (the publish mutation's input:
    hops without this hub's own arrival), as JSON; None for a publisher's own delivery, so a
    mirror stores a relayed record as relayed, with its original publisher and path."""
    if source["original_publisher"] in (None, publisher):
        return None
    hops = orjson.loads(source["hops"] or "[]")[:-1]
    first = source["first_published_at"]
    return orjson.dumps({
        "originalPublisher": source["original_publisher"],
        "originalRole": source["original_role"], "sourceSite": source["source_site"],
        "firstPublishedAt": first.isoformat() if first else None, "hops": hops,
    }).decode()  # fmt: skip
