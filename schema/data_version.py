"""The data version: one counter that every write bumps, so caches know when to let go."""

from __future__ import annotations

import time

from sqlalchemy import BigInteger, Connection, select, update
from sqlmodel import SQLModel

from schema.columns import field, table_of


class DataVersion(SQLModel, table=True):
    """One row (id 1). Bumped in the same transaction as each write, so a reader never sees
    the new version with the old data; the GraphQL ETag is derived from it."""

    __tablename__ = "data_version"

    id: int | None = field("编号", "Always 1: the table holds one row.", primary_key=True,
                           public=False)  # fmt: skip
    version: int = field(
        "数据版本",
        "Bumped by every write that changes what a query can answer (ingest, publishers, flags).",
        sa_type=BigInteger,
        public=False,
    )


TABLE = table_of(DataVersion)


def bump_data_version(conn: Connection) -> None:
    """Count one write, in the caller's transaction. Best called just before the commit: on
    PostgreSQL the row stays locked until then, and other writers wait for it."""
    conn.execute(update(TABLE).where(TABLE.c.id == 1).values(version=TABLE.c.version + 1))


def current_data_version(conn: Connection) -> int:
    return conn.execute(select(TABLE.c.version).where(TABLE.c.id == 1)).scalar() or 0


def data_version_after_restore(conn: Connection, before: int) -> int:
    """Move the counter past every version handed out, the restored database's and the one
    it replaced (`before`): a restore rewinds the data, and a cached answer from before it
    must not be confirmed by a version that comes round again. The restore time in
    milliseconds is above any count of writes a hub reaches."""
    version = max(current_data_version(conn), before, int(time.time() * 1000)) + 1
    conn.execute(update(TABLE).where(TABLE.c.id == 1).values(version=version))
    return version
