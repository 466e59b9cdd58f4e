"""How far behind each upstream is: what `caigou pusher status` and /metrics show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from hub.federation.upstreams import list_upstreams
from schema.ocds import utc_now_beijing
from schema.tables import CHANGES, PUSH_PARKED


@dataclass(frozen=True)
class UpstreamStatus:
    name: str
    url: str
    kinds: tuple[str, ...]
    paused: bool
    cursor: int
    backlog: int  # changes of its kinds after the cursor: the queue depth
    oldest_pending: datetime | None  # when the oldest of them was accepted here
    parked: int
    last_error: str | None
    last_pushed_at: datetime | None

    @property
    def oldest_age_seconds(self) -> float:
        if self.oldest_pending is None:
            return 0.0
        return max(0.0, (utc_now_beijing() - self.oldest_pending).total_seconds())


def statuses(conn: Connection) -> list[UpstreamStatus]:
    out = []
    for upstream in list_upstreams(conn):
        kinds = [k.value for k in upstream.kinds]
        pending = conn.execute(
            select(func.count(), func.min(CHANGES.c.accepted_at)).where(
                CHANGES.c.seq > upstream.cursor, CHANGES.c.kind.in_(kinds)
            )
        ).one()
        parked = conn.execute(
            select(func.count()).where(PUSH_PARKED.c.upstream_id == upstream.id)
        ).scalar_one()
        out.append(UpstreamStatus(
            upstream.name, upstream.url, tuple(kinds), upstream.paused_at is not None,
            upstream.cursor, int(pending[0]), pending[1], int(parked), upstream.last_error,
            upstream.last_pushed_at,
        ))  # fmt: skip
    return out
