"""Publisher accounts: hashed tokens and the scope each may publish in."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from hub.publishing.errors import PublisherError
from schema.codes import is_region_code, region_within
from schema.ocds import utc_now_beijing
from schema.tables import Publisher
from schema.types import PublisherRole, RecordKind

NATIONWIDE = "100000"  # GB/T 2260: 中华人民共和国
TABLE = Publisher.__table__  # type: ignore[attr-defined]


def hash_token(token: str) -> str:
    """Tokens are 256-bit random, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class PublisherAccount:
    """What the pipeline needs to know of a publisher, without an ORM session."""

    id: int
    name: str
    role: PublisherRole
    source_site: str | None
    regions: tuple[str, ...]
    kinds: frozenset[RecordKind]

    def may_publish_kind(self, kind: RecordKind) -> bool:
        if kind is RecordKind.penalty and self.role is not PublisherRole.finance_department:
            return False  # 135号: supervision information comes from finance departments only
        return kind in self.kinds

    def covers_region(self, code: str) -> bool:
        return any(scope == NATIONWIDE or region_within(code, scope) for scope in self.regions)


def _account(row: object) -> PublisherAccount:
    return PublisherAccount(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        role=PublisherRole(row.role),  # type: ignore[attr-defined]
        source_site=row.source_site,  # type: ignore[attr-defined]
        regions=tuple(filter(None, row.scope_regions.split(","))),  # type: ignore[attr-defined]
        kinds=frozenset(RecordKind(k) for k in row.scope_kinds.split(",") if k),  # type: ignore[attr-defined]
    )


def add_publisher(
    conn: Connection,
    name: str,
    role: PublisherRole,
    regions: Iterable[str],
    kinds: Iterable[RecordKind],
    source_site: str | None = None,
) -> tuple[PublisherAccount, str]:
    """Create a publisher; returns it with its token, which is shown only this once."""
    regions = [r.strip() for r in regions if r.strip()]
    bad = [r for r in regions if not is_region_code(r)]
    if bad or not regions:
        raise ValueError(f"regions must be six-digit division codes (100000 for nationwide): {bad}")
    kinds = sorted({RecordKind(k) for k in kinds})
    if RecordKind.penalty in kinds and role is not PublisherRole.finance_department:
        raise ValueError("only a finance_department publisher may publish penalty records")
    if conn.execute(select(TABLE.c.id).where(TABLE.c.name == name)).first():
        raise ValueError(f"publisher {name!r} already exists")
    token = "cgp_" + secrets.token_urlsafe(32)
    conn.execute(
        TABLE.insert().values(
            name=name,
            role=role.value,
            source_site=source_site,
            scope_regions=",".join(regions),
            scope_kinds=",".join(k.value for k in kinds),
            token_hash=hash_token(token),
            created_at=utc_now_beijing(),
        )
    )
    return find_publisher(conn, name), token


def find_publisher(conn: Connection, name: str) -> PublisherAccount:
    row = conn.execute(select(TABLE).where(TABLE.c.name == name)).first()
    if row is None:
        raise PublisherError(f"no publisher named {name!r}: add it with `caigou publisher add`")
    if row.revoked_at is not None:
        raise PublisherError(f"publisher {name!r} was revoked on {row.revoked_at:%Y-%m-%d}")
    return _account(row)


def authenticate(conn: Connection, token: str) -> PublisherAccount:
    row = conn.execute(select(TABLE).where(TABLE.c.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        raise PublisherError("unknown or revoked token")
    return _account(row)


def revoke_publisher(conn: Connection, name: str, when: datetime | None = None) -> None:
    find_publisher(conn, name)
    conn.execute(
        update(TABLE).where(TABLE.c.name == name).values(revoked_at=when or utc_now_beijing())
    )


def list_publishers(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(select(TABLE).order_by(TABLE.c.name)).all()
    return [
        {
            "name": r.name,
            "role": r.role,
            "source_site": r.source_site,
            "regions": r.scope_regions,
            "kinds": r.scope_kinds,
            "revoked_at": r.revoked_at,
        }
        for r in rows
    ]
