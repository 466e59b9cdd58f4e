"""What every search backend takes and gives: Elasticsearch and the embedded SQLite FTS5 alike.

The GraphQL `search` field builds a `SearchRequest`, hands it to the configured backend and
turns the `SearchResult` into a connection. Backends never see raw user syntax: the query
text is parsed once (`indexer.text.parse_query`) into words, phrases and exclusions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

# The kinds of record people search, in the order facets and docs list them.
KINDS = ("notice", "transaction", "party", "penalty")
# Hits a backend returns at most: a page of 100 plus one that tells whether another follows.
MAX_SIZE = 101


class SearchUnavailable(Exception):
    """The search backend cannot answer (Elasticsearch down, index missing)."""


class CursorMismatch(ValueError):
    """`after` holds sort values of another order, list or backend: the client's mistake
    (a page kept across a change of order), not a fault of the backend."""


@dataclass(frozen=True)
class ParsedQuery:
    """User syntax, parsed: `复印纸 "联想 启天" -A3` → words, phrases, excluded."""

    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.words or self.phrases)


@dataclass(frozen=True)
class SearchFilter:
    """Filters shared by all kinds; a filter a kind has no field for excludes that kind."""

    region_code: str | None = None  # this division and its descendants
    notice_type: str | None = None
    procurement_method: str | None = None
    category_code_prefix: str | None = None
    channel: str | None = None
    purchaser_id: int | None = None  # party pk
    supplier_id: int | None = None  # party pk
    date_from: date | None = None  # inclusive, on the record's main date
    date_to: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    flag_code: str | None = None  # a consistency rule code flagging the record (or its project)


@dataclass(frozen=True)
class SearchRequest:
    query: ParsedQuery
    kinds: tuple[str, ...] = KINDS
    filter: SearchFilter = field(default_factory=SearchFilter)
    order_by: str = "relevance"  # relevance | date | amount
    descending: bool = True
    size: int = 20
    after: tuple[Any, ...] | None = None  # sort values of the last hit of the previous page
    # Only the hits' kinds, keys and sort values: no facets, no total (it counts the page), no
    # highlights. For a sample read on by key (the price chart): a third of a search's work.
    keys_only: bool = False


@dataclass(frozen=True)
class Hit:
    kind: str
    pk: int
    score: float | None
    sort: tuple[Any, ...]  # opaque sort values, the cursor of this hit
    highlights: dict[str, list[str]]  # field name → fragments with <em>whole words</em>


@dataclass(frozen=True)
class Bucket:
    key: str
    count: int


@dataclass(frozen=True)
class AmountStats:
    count: int
    sum: Decimal | None
    min: Decimal | None
    max: Decimal | None
    avg: Decimal | None


@dataclass(frozen=True)
class IndexLag:
    """Changes written but not yet searchable: what a search cannot find yet."""

    pending: int  # outbox rows waiting (parked ones excluded)
    oldest_pending_at: datetime | None  # when the oldest of them was written (UTC+8)


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[Hit]
    facets: dict[str, list[Bucket]]  # kind, notice_type, region, category, channel, year
    amount: AmountStats | None = None
    lag: IndexLag | None = None  # filled in by the hub (hub.search), not by the backends


class SearchBackend(Protocol):
    def search(self, request: SearchRequest) -> SearchResult: ...

    def health(self) -> dict[str, Any]: ...
