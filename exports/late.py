"""Records that arrived after their publish day was dumped: they go out on the day they arrive.

A day's records are those published on it, cut when the day is exported (01:00 the next
morning by default). A record published on day P that reaches the hub after P's dump was cut
would otherwise never be dumped: P is not exported again, and later days hold only what was
published on them. Each manifest's watermark says the newest receipt time it had seen
(`received_at`); a record received on day D, published before D, later than that watermark
of its publish day's manifest, is written with D's records (its `published_at` still says
when it was published). In a backfill every publish day is cut after everything arrived, so
nothing is late and nothing is written twice; the same data and the same export history give
the same files.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from exports.manifest import read_manifest
from exports.partitions import end_of, start_of
from exports.source import Source, as_datetime
from exports.storage import Store

LATE_ENTITIES = ("notices", "penalty_records", "transactions")


def late_records(source: Source, store: Store, day: date) -> dict[str, list[int]]:
    """Ids per entity of records received on `day`, published before it, after the dump of
    their publish day was cut."""
    start, end = start_of(day), end_of(day)
    cut: dict[date, datetime | None] = {}
    found: dict[str, list[int]] = defaultdict(list)
    for entity in LATE_ENTITIES:
        rows = source.rows(
            f"SELECT id, published_at, received_at FROM {entity} WHERE published_at < {start} "
            f"AND received_at >= {start} AND received_at < {end} ORDER BY id"
        )
        for record_id, published_at, received_at in rows:
            published = as_datetime(published_at).date()
            if published not in cut:
                manifest = read_manifest(store, published)
                seen = (manifest.watermark or {}).get("received_at") if manifest else None
                cut[published] = as_datetime(seen) if seen else None
            seen_by = cut[published]
            if seen_by is not None and as_datetime(received_at) > seen_by:
                found[entity].append(int(record_id))
    return dict(found)
