"""A record's sources: every account that delivered it, with the relay path (issue 17).

Read by GraphQL's `sources` fields on notices, transactions and penalty records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, select

from hub.read.rows import among
from schema.tables import RECORD_SOURCES as SOURCES
from schema.types import RecordKind

COLUMNS = (
    "record_id", "publisher_id", "original_publisher", "original_role", "source_site",
    "first_published_at", "received_at", "hops",
)  # fmt: skip


def sources_of(conn: Connection, kind: RecordKind, ids: Iterable[int]) -> dict[int, list[Any]]:
    """Each record's sources in order of arrival (then of id), keyed by the record's id."""
    s = SOURCES.c
    query = (
        select(*(s[c] for c in COLUMNS))
        .where(s.kind == kind.value, among(conn, s.record_id, ids))
        .order_by(s.received_at, s.id)
    )
    found: dict[int, list[Any]] = defaultdict(list)
    for row in conn.execute(query):
        found[row.record_id].append(row)
    return found


def hops_of(row: Any) -> list[dict[str, str]]:
    """The stored path: [{hub, receivedAt}], this hub's arrival last."""
    return list(orjson.loads(row.hops))
