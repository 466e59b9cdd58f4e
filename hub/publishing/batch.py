"""What every record handler shares: the batch's connection, publisher, clock and report."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection

from hub.publishing.errors import FieldError, Refusal, faults_of
from hub.publishing.parties import PartyResolver
from hub.publishing.publishers import PublisherAccount
from hub.publishing.sources import Delivery, Relay

MAX_REFUSALS_KEPT = 10_000


@dataclass
class BatchReport:
    """Counts and refusals; in all-or-nothing mode writing stops at the first refusal."""

    partial: bool
    total: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    refusals: list[Refusal] = field(default_factory=list)
    on_reject: Callable[[list[Refusal], Mapping[str, Any]], None] | None = None
    # Said once per batch, not refused: e.g. columns the hub does not read, kept in payloads.
    warnings: list[str] = field(default_factory=list)

    @property
    def writing(self) -> bool:
        return self.partial or self.rejected == 0

    def refuse(
        self, position: int, record_id: Any, error: FieldError, raw: Mapping[str, Any]
    ) -> None:
        """One refused record: a refusal for each of its faults, the record counted once."""
        ref = str(record_id) if record_id else None
        refusals = [Refusal(position, ref, f.field, f.reason) for f in faults_of(error)]
        self.rejected += 1
        room = MAX_REFUSALS_KEPT - len(self.refusals)
        self.refusals.extend(refusals[: max(room, 0)])
        if self.on_reject is not None:
            self.on_reject(refusals, raw)

    def warn(self, message: str) -> None:
        """Something the publisher should know that refuses nothing (said once per batch)."""
        self.warnings.append(message)


@dataclass
class BatchContext:
    conn: Connection
    publisher: PublisherAccount
    source_site: str | None
    received_at: datetime
    report: BatchReport
    parties: PartyResolver
    hub: str = ""  # this hub's name on relay paths (its public URL)
    relay: Relay | None = None  # the record being added's relay metadata (None: direct)
    relays_read: dict[bytes, Relay] = field(default_factory=dict)  # this batch's, by their JSON

    @property
    def delivery(self) -> Delivery:
        return Delivery(self.publisher, self.hub, self.received_at)


class RecordHandler(Protocol):
    def add(self, position: int, raw: Mapping[str, Any]) -> None: ...

    def finish(self) -> None: ...


def content_hash(values: Any) -> str:
    """Identity of a record's content, independent of key order and of CSV vs JSON."""
    return hashlib.blake2b(
        orjson.dumps(values, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()
