"""The upstreams this hub pushes to: added, listed, paused, removed; their tokens read from
a file at each push, never stored in the database nor printed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from hub.read.changes import parse_kinds
from hub.read.errors import BadInput
from schema.ocds import utc_now_beijing
from schema.tables import CHANGES, PUSH_PARKED, UPSTREAMS
from schema.types import RecordKind


class UpstreamError(Exception):
    """An upstream the operator named cannot be used as asked: said plainly."""


@dataclass(frozen=True)
class UpstreamRow:
    id: int
    name: str
    url: str
    token_file: str
    kinds: tuple[RecordKind, ...]
    cursor: int
    paused_at: datetime | None
    created_at: datetime
    last_error: str | None
    last_pushed_at: datetime | None


def _row(row: object) -> UpstreamRow:
    values = dict(row._mapping)  # type: ignore[attr-defined]
    values["kinds"] = tuple(RecordKind(k) for k in values["kinds"].split(",") if k)
    return UpstreamRow(**values)


def read_kinds(values: Sequence[str] | None) -> tuple[RecordKind, ...]:
    """Kinds from `--kinds notice,penalty` (or repeated); none: every kind."""
    names = [part for value in values or () for part in value.split(",") if part.strip()]
    try:
        kinds = parse_kinds(names, "--kinds")
    except BadInput as exc:
        raise UpstreamError(str(exc)) from None
    return tuple(kinds) if kinds else tuple(RecordKind)


def add_upstream(
    conn: Connection, name: str, url: str, token_file: str,
    kinds: Sequence[RecordKind] = tuple(RecordKind), *, from_start: bool = False,
) -> UpstreamRow:  # fmt: skip
    """A new upstream; it receives what arrives from now on (cursor = the feed's last seq),
    or everything held with `from_start` (cursor 0: a backfill from the change feed)."""
    name, url = name.strip(), url.strip().rstrip("/")
    if not name:
        raise UpstreamError("NAME: must not be empty")
    if not url.startswith(("http://", "https://")):
        raise UpstreamError(f"URL: {url!r} is not an http(s) URL")
    path = Path(token_file).expanduser().resolve()
    read_token(str(path))  # refuse a missing or empty token file now, not at the first push
    if conn.execute(select(UPSTREAMS.c.id).where(UPSTREAMS.c.name == name)).first():
        raise UpstreamError(f"NAME: an upstream named {name} exists already")
    cursor = (
        0
        if from_start
        else conn.execute(select(func.coalesce(func.max(CHANGES.c.seq), 0))).scalar_one()
    )
    conn.execute(UPSTREAMS.insert().values(
        name=name, url=url, token_file=str(path), kinds=",".join(k.value for k in kinds),
        cursor=cursor, created_at=utc_now_beijing(),
    ))  # fmt: skip
    return find_upstream(conn, name)


def find_upstream(conn: Connection, name: str) -> UpstreamRow:
    row = conn.execute(select(UPSTREAMS).where(UPSTREAMS.c.name == name)).first()
    if row is None:
        raise UpstreamError(f"NAME: no upstream named {name} (see `caigou upstream list`)")
    return _row(row)


def list_upstreams(conn: Connection) -> list[UpstreamRow]:
    return [_row(r) for r in conn.execute(select(UPSTREAMS).order_by(UPSTREAMS.c.name))]


def remove_upstream(conn: Connection, name: str) -> None:
    """Forget the upstream and its parked changes; the records stay in the feed."""
    upstream = find_upstream(conn, name)
    conn.execute(PUSH_PARKED.delete().where(PUSH_PARKED.c.upstream_id == upstream.id))
    conn.execute(UPSTREAMS.delete().where(UPSTREAMS.c.id == upstream.id))


def set_paused(conn: Connection, name: str, paused: bool) -> None:
    """Pause keeps the cursor: resuming sends everything accepted meanwhile."""
    upstream = find_upstream(conn, name)
    conn.execute(UPSTREAMS.update().where(UPSTREAMS.c.id == upstream.id)
                 .values(paused_at=utc_now_beijing() if paused else None))  # fmt: skip


def read_token(token_file: str) -> str:
    """The token, read afresh (a rotated token takes effect at the next push)."""
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UpstreamError(f"token file {token_file}: {exc.strerror or exc}") from None
    if not token:
        raise UpstreamError(f"token file {token_file} is empty")
    return token


def engine_upstreams(engine: Engine) -> list[UpstreamRow]:
    with engine.connect() as conn:
        return list_upstreams(conn)
