"""The change feed's writer: written by the change-feed branch."""

from __future__ import annotations

from sqlalchemy import Connection

from schema.types import RecordKind


def record_change(
    conn: Connection,
    kind: RecordKind,
    record_id: int,
    action: str,
    content_hash: str,
    ocid: str | None,
) -> None:
    """written by the change-feed branch"""
    pass
