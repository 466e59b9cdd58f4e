"""Publisher accounts: hashed tokens, their rotation, and the scope each may publish in."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, or_, select, update

from hub.publishing.errors import PublisherError
from schema.codes import is_region_code, region_within
from schema.data_version import bump_data_version
from schema.ocds import utc_now_beijing
from schema.tables import INGESTIONS
from schema.tables import PUBLISHERS as TABLE
from schema.types import PublisherRole, RecordKind

NATIONWIDE = "100000"  # GB/T 2260: 中华人民共和国
DEFAULT_GRACE = timedelta(hours=24)
# Sites that relay (转发) records first published by others within their scope (issue 17).
RELAY_ROLES = frozenset({PublisherRole.regional_site, PublisherRole.trading_platform})


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
        """135号: supervision information comes from finance departments only; a relaying
        site registered for penalties carries theirs (each record's relay is checked)."""
        if kind is RecordKind.penalty and not self.may_carry_penalties:
            return False
        return kind in self.kinds

    @property
    def may_carry_penalties(self) -> bool:
        return self.role is PublisherRole.finance_department or self.role in RELAY_ROLES

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
    if RecordKind.penalty in kinds and not (
        role is PublisherRole.finance_department or role in RELAY_ROLES
    ):
        raise ValueError("only a finance_department publisher may publish penalty records "
                         "(a regional_site or trading_platform may relay them)")  # fmt: skip
    if conn.execute(select(TABLE.c.id).where(TABLE.c.name == name)).first():
        raise ValueError(f"publisher {name!r} already exists")
    token = new_token()
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
    bump_data_version(conn)
    return find_publisher(conn, name), token


def new_token() -> str:
    return "cgp_" + secrets.token_urlsafe(32)


def find_publisher(conn: Connection, name: str) -> PublisherAccount:
    row = conn.execute(select(TABLE).where(TABLE.c.name == name)).first()
    if row is None:
        raise PublisherError(f"no publisher named {name!r}: add it with `caigou publisher add`")
    if row.revoked_at is not None:
        raise PublisherError(f"publisher {name!r} was revoked on {row.revoked_at:%Y-%m-%d}")
    return _account(row)


def authenticate(conn: Connection, token: str, *, now: datetime | None = None) -> PublisherAccount:
    """The publisher of `token`: its current one, or the one a rotation replaced while that
    is within its grace period.

    The row is found through the unique indexes on the digests, which tells an attacker
    nothing about the token (a digest's prefix is no hint to a preimage); the digests are
    then compared in constant time.
    """
    digest = hash_token(token)
    row = conn.execute(
        select(TABLE).where(
            or_(TABLE.c.token_hash == digest, TABLE.c.previous_token_hash == digest)
        )
    ).first()
    if row is None or row.revoked_at is not None:
        raise PublisherError("unknown or revoked token")
    if hmac.compare_digest(row.token_hash, digest):
        return _account(row)
    if row.previous_token_hash is not None and hmac.compare_digest(row.previous_token_hash, digest):
        if (now or utc_now_beijing()) < row.previous_token_expires_at:
            return _account(row)
        raise PublisherError(
            f"this token was replaced by a rotation; it expired at "
            f"{row.previous_token_expires_at:%Y-%m-%d %H:%M} (UTC+8): use the new token"
        )
    raise PublisherError("unknown or revoked token")


def rotate_publisher(
    conn: Connection, name: str, grace: timedelta = DEFAULT_GRACE, now: datetime | None = None
) -> tuple[str, datetime | None]:
    """Give a publisher a new token; the current one keeps working for `grace` (none when 0).

    Returns the new token (shown only this once) and when the old one stops working. A
    token replaced by an earlier rotation stops working at once.
    """
    find_publisher(conn, name)
    if grace < timedelta(0):
        raise ValueError("the grace period cannot be negative")
    current = conn.execute(select(TABLE.c.token_hash).where(TABLE.c.name == name)).scalar_one()
    expires = (now or utc_now_beijing()) + grace if grace else None
    token = new_token()
    conn.execute(
        update(TABLE)
        .where(TABLE.c.name == name)
        .values(
            token_hash=hash_token(token),
            previous_token_hash=current if expires else None,
            previous_token_expires_at=expires,
        )
    )
    bump_data_version(conn)
    return token, expires


def revoke_publisher(conn: Connection, name: str, when: datetime | None = None) -> None:
    """Revoke every token of the publisher, a rotated one in its grace period too."""
    find_publisher(conn, name)
    conn.execute(
        update(TABLE).where(TABLE.c.name == name).values(revoked_at=when or utc_now_beijing())
    )
    bump_data_version(conn)


def publish_audit(conn: Connection, name: str, limit: int = 50) -> list[dict[str, object]]:
    """The publisher's batches, newest first, from the ingestion log (revoked ones too)."""
    publisher_id = conn.execute(select(TABLE.c.id).where(TABLE.c.name == name)).scalar()
    if publisher_id is None:
        raise PublisherError(f"no publisher named {name!r}")
    i = INGESTIONS.c
    rows = conn.execute(
        select(i.id, i.started_at, i.finished_at, i.source, i.record_kind, i.mode, i.status,
               i.total, i.accepted, i.duplicates, i.rejected, i.digest)
        .where(i.publisher_id == publisher_id)
        .order_by(i.id.desc())
        .limit(limit)
    ).mappings()  # fmt: skip
    return [dict(row) for row in rows]


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
