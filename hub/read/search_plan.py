"""`search` planned: a page of hits answered as plain data, without GraphQL field completion.

Measured on the 1M bench, a search page's own cost was graphql-core completing ~180 fields
(the hits, their parties, highlights) and building a strawberry object per record. Here the
answer is built directly: the backend's result (scores, cursors, highlights, facets) and the
records of one statement (`hub.read.search.hydrate`, parties joined, only the columns asked
for), serialised once with orjson. Values are formatted as the schema formats them (decimals
as their exact text, dates ISO), so the bytes equal the resolvers' answer; the differential
test (tests/test_search_plan.py) holds them to it.

Like every planner compiler it takes only the happy path: an argument the resolver might
refuse, a field it does not know (a resolver such as `region`, a date-time, `indexLag`) or a
fragment it cannot place → `compile_search` returns None and strawberry answers. A backend
that fails (`SearchUnavailable`) → `run_planned` raises it: the fallback reports it.

The union `SearchNode` (under `edges.node` and `nodes`) arrives as `Selection`s of two sorts:
fields on the union itself (`__typename`), and one group per type condition, a `Selection`
with `name` "" and `type_name` the object type (`Transaction`, …; an interface or the union
→ decline), its `children` that fragment's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, Dialect

from hub.read.cursors import decode_cursor, encode_cursor, global_id
from hub.read.plan.selection import Selection
from hub.read.search import SIDES, TABLES, Job, Key, Record, facet_label, hydrate, hydration
from indexer.search import KINDS, Hit, SearchRequest, SearchResult, SearchUnavailable
from indexer.text import parse_query
from schema.catalogue import public_fields

MAX_QUERY_CHARS, MAX_PAGE, DEFAULT_PAGE = 200, 100, 20  # as the resolver's limits
TYPE_OF_KIND = {"notice": "Notice", "transaction": "Transaction", "party": "Party",
                "penalty": "PenaltyRecord"}  # fmt: skip
KIND_OF_TYPE = {name: kind for kind, name in TYPE_OF_KIND.items()}
FACETS = {"kind": "kind", "noticeType": "notice_type", "region": "region",
          "category": "category", "channel": "channel", "year": "year"}  # fmt: skip
Value = Callable[[Any], Any]


class Decline(Exception):
    """Not sure of the answer: strawberry's resolvers give it."""


def _text(value: Any) -> Any:
    return value if value is None else str(value)


def _iso(value: Any) -> Any:
    return value if value is None else value.isoformat()


SERIALISE: dict[type, Value | None] = {str: None, int: None, bool: None, float: None,
                                       Decimal: _text, date: _iso}  # fmt: skip


@cache
def columns(kind: str) -> dict[str, tuple[str, Value | None]]:
    """GraphQL field → (column, how its value is written) for a kind's plain fields: its
    public catalogue fields that are neither the key nor a foreign key (those the graph shows
    as objects), of a type whose JSON form is certain (no date-times)."""
    table = TABLES[kind]
    out = {}
    for spec in public_fields(table.name):
        if spec.name == "id" or table.c[spec.name].foreign_keys:
            continue
        if spec.python_type not in SERIALISE:
            continue
        head, *rest = spec.name.split("_")
        out[head + "".join(w.title() for w in rest)] = (spec.name, SERIALISE[spec.python_type])
    return out


@dataclass(frozen=True)
class SearchPlan:
    """A `search` field, compiled: the backend request and how to write the answer."""

    selection: Selection
    request: SearchRequest
    size: int
    kinds: frozenset[str]  # the kinds whose fields are shown: only their rows are read
    fields: Mapping[str, frozenset[str]]  # kind → its columns asked for
    parties: tuple[str, ...]  # a transaction's parties' columns asked for; () for none

    def answer(self, conn: Connection, result: SearchResult) -> bytes:
        """The field's JSON value; blocking (one statement): run it in a worker thread."""
        hits = result.hits[: self.size]
        return self.write(result, hydrate(conn, hits, self.kinds, **self._asked()))

    def hydration(self, dialect: Dialect, result: SearchResult) -> list[Job]:
        """The statements `answer` runs, for an async driver (the event loop's path)."""
        return hydration(dialect, result.hits[: self.size], self.kinds, **self._asked())

    def _asked(self) -> dict[str, Any]:
        wanted = {kind: ("id", *sorted(names)) for kind, names in self.fields.items()}
        return {"columns": wanted, "parties": self.parties or False}

    def write(self, result: SearchResult, records: Mapping[Key, Record]) -> bytes:
        """The field's JSON value from the backend's result and its hits' records."""
        hits = result.hits[: self.size]
        edges: list[tuple[Hit, dict[str, Any] | None]] = []
        for hit in hits:
            key = (hit.kind, hit.pk)
            if hit.kind in self.kinds:
                if key not in records:
                    continue  # deleted since it was indexed, as the resolver skips it
                edges.append((hit, records[key]))
            else:
                edges.append((hit, None))
        return orjson.dumps(_connection(self.selection, result, hits, edges, self.size))


def compile_search(selection: Selection, dialect: str) -> SearchPlan | None:
    """The plan of a `search` root field, or None where the resolvers must answer."""
    try:
        return _compile(selection)
    except Decline:
        return None


ARGUMENTS = {"query", "kinds", "filter", "order_by", "first", "after"}


def _compile(selection: Selection) -> SearchPlan:
    args = selection.args
    if not set(args) <= ARGUMENTS:
        raise Decline  # an argument this version does not know
    query, first, after = args.get("query"), args.get("first"), args.get("after")
    if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
        raise Decline
    size = DEFAULT_PAGE if first is None else first
    if not 0 <= size <= MAX_PAGE:
        raise Decline
    parsed = parse_query(query)
    if parsed.empty and query.strip():  # "no word to search for", or only exclusions: unsure
        raise Decline
    try:
        sort_after = tuple(decode_cursor(after)) if after else None
        filter = args.get("filter")
        search_filter = filter.to_filter() if filter is not None else None
    except Exception:  # whatever the resolver would refuse, it refuses itself
        raise Decline from None
    kinds = args.get("kinds")
    order = args.get("order_by")
    request = SearchRequest(
        query=parsed,
        kinds=tuple(k.value for k in kinds) if kinds else KINDS,
        order_by=order.value if order is not None else "relevance",
        descending=True,
        size=size + 1,  # one more than asked: whether a next page exists
        after=sort_after,
        **({"filter": search_filter} if search_filter is not None else {}),
    )
    shown: dict[str, set[str]] = {}
    parties = _check_connection(selection.children, shown)
    party_columns = tuple(sorted(shown.pop("party-of-transaction", set()))) if parties else ()
    fields = {kind: frozenset(names) for kind, names in shown.items()}
    return SearchPlan(
        selection,
        request,
        size,
        frozenset(shown),
        fields,
        ("id", *party_columns) if parties else (),
    )


def _unique(children: tuple[Selection, ...]) -> None:
    keys = [c.key for c in children if c.name]
    if len(keys) != len(set(keys)):
        raise Decline  # the same key twice: GraphQL merges them, not worth the risk


LEAVES = {
    "SearchConnection": {"totalCount"},
    "PageInfo": {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"},
    "SearchEdge": {"cursor", "kind", "score"},
    "Highlight": {"field", "fragments"},
    "FacetBucket": {"key", "label", "count"},
    "SearchAmountStats": {"count", "sum", "min", "max", "avg"},
}


def _leaves(children: tuple[Selection, ...], type_name: str) -> None:
    _unique(children)
    for c in children:
        if c.name != "__typename" and (c.children or c.name not in LEAVES[type_name]):
            raise Decline


def _check_connection(children: tuple[Selection, ...], shown: dict[str, set[str]]) -> bool:
    """Every field under `search` known, or Decline; fills `shown`; whether parties are asked."""
    _unique(children)
    parties = False
    for c in children:
        if c.name in ("totalCount", "__typename"):
            _leaves((c,), "SearchConnection")
        elif c.name == "pageInfo":
            _leaves(c.children, "PageInfo")
        elif c.name == "amount":
            _leaves(c.children, "SearchAmountStats")
        elif c.name == "facets":
            _unique(c.children)
            for facet in c.children:
                if facet.name != "__typename":
                    if facet.name not in FACETS:
                        raise Decline
                    _leaves(facet.children, "FacetBucket")
        elif c.name == "nodes":
            parties |= _check_node(c.children, shown)
        elif c.name == "edges":
            _unique(c.children)
            for e in c.children:
                if e.name == "node":
                    parties |= _check_node(e.children, shown)
                elif e.name == "highlights":
                    _leaves(e.children, "Highlight")
                else:
                    _leaves((e,), "SearchEdge")
        else:
            raise Decline
    return parties


def _check_node(children: tuple[Selection, ...], shown: dict[str, set[str]]) -> bool:
    parties = False
    for c in children:
        if c.name == "__typename":
            continue
        kind = KIND_OF_TYPE.get(c.type_name) if not c.name else None
        if kind is None:
            raise Decline  # a field on the union, or a fragment on an interface
        _unique(c.children)
        names = shown.setdefault(kind, set())
        for f in c.children:
            if f.name in ("__typename", "id"):
                _leaf(f)
            elif kind == "transaction" and f.name in SIDES:
                asked = shown.setdefault("party-of-transaction", set())
                for p in f.children:
                    if p.name not in ("__typename", "id"):
                        if p.name not in columns("party"):
                            raise Decline
                        asked.add(columns("party")[p.name][0])
                    _leaf(p)
                parties = True
            elif f.name in columns(kind):
                _leaf(f)
                names.add(columns(kind)[f.name][0])
            else:
                raise Decline
    return parties


def _leaf(selection: Selection) -> None:
    if selection.children:
        raise Decline


# writing the answer


def _connection(
    selection: Selection, result: SearchResult, hits: list[Hit], edges: list[Any], size: int
) -> dict[str, Any]:
    cursors = [encode_cursor(list(hit.sort)) for hit, _ in edges]
    out: dict[str, Any] = {}
    for c in selection.children:
        if c.name == "__typename":
            out[c.key] = "SearchConnection"
        elif c.name == "totalCount":
            out[c.key] = result.total
        elif c.name == "pageInfo":
            info = {
                "hasNextPage": len(result.hits) > size,
                "hasPreviousPage": selection.args.get("after") is not None,
                "startCursor": cursors[0] if cursors else None,
                "endCursor": encode_cursor(list(hits[-1].sort)) if hits else None,
                "__typename": "PageInfo",
            }
            out[c.key] = {p.key: info[p.name] for p in c.children}
        elif c.name == "amount":
            amount = result.amount
            out[c.key] = None if amount is None else {
                a.key: "SearchAmountStats" if a.name == "__typename"
                else _text(getattr(amount, a.name)) if a.name != "count" else amount.count
                for a in c.children
            }  # fmt: skip
        elif c.name == "facets":
            out[c.key] = {f.key: _facet(f, result) for f in c.children}
        elif c.name == "nodes":
            out[c.key] = [_node(c.children, hit, record) for hit, record in edges]
        elif c.name == "edges":
            pairs = zip(edges, cursors, strict=True)
            out[c.key] = [_edge(c.children, hit, record, cursor) for (hit, record), cursor in pairs]
    return out


def _facet(f: Selection, result: SearchResult) -> Any:
    if f.name == "__typename":
        return "SearchFacets"
    name = FACETS[f.name]
    values = {"__typename": lambda b: "FacetBucket", "key": lambda b: b.key,
              "count": lambda b: b.count, "label": lambda b: facet_label(name, b.key)}  # fmt: skip
    return [{k.key: values[k.name](b) for k in f.children} for b in result.facets.get(name, [])]


def _edge(children: tuple[Selection, ...], hit: Hit, record: Any, cursor: str) -> Any:
    out: dict[str, Any] = {}
    for e in children:
        if e.name == "__typename":
            out[e.key] = "SearchEdge"
        elif e.name == "cursor":
            out[e.key] = cursor
        elif e.name == "kind":
            out[e.key] = hit.kind.upper()
        elif e.name == "score":
            out[e.key] = None if hit.score is None else float(hit.score)
        elif e.name == "highlights":
            out[e.key] = [
                {h.key: "Highlight" if h.name == "__typename" else f if h.name == "field" else v
                 for h in e.children}
                for f, v in hit.highlights.items() if v
            ]  # fmt: skip
        elif e.name == "node":
            out[e.key] = _node(e.children, hit, record)
    return out


def _node(children: tuple[Selection, ...], hit: Hit, record: Any) -> Any:
    type_name = TYPE_OF_KIND[hit.kind]
    out: dict[str, Any] = {}
    for c in children:
        if c.name == "__typename":
            out[c.key] = type_name
        elif c.type_name == type_name:
            _fields(c.children, hit.kind, type_name, record, out)
    return out


def _fields(
    children: tuple[Selection, ...], kind: str, type_name: str, record: Any, out: dict[str, Any]
) -> None:
    """A record's fields into `out` (fragments on the same type share one object)."""
    known = columns(kind)
    for f in children:
        if f.name == "__typename":
            out[f.key] = type_name
        elif f.name == "id":
            out[f.key] = global_id(type_name, record["id"])
        elif f.name in SIDES and kind == "transaction":
            party: dict[str, Any] = {}
            _fields(f.children, "party", "Party", record[f.name], party)
            out[f.key] = party
        else:
            column, write = known[f.name]
            value = record[column]
            out[f.key] = write(value) if write else value


def run_planned(plan: SearchPlan, conn: Connection, backend: Any) -> bytes:
    """The planned answer (blocking: the operation's worker thread runs it): the backend's
    search, without the index lag (never shown here), then the records in one statement.
    A backend that fails raises `SearchUnavailable`: the resolver then reports it.

    `backend` is the request's search service (`SearchHere`): its breaker and its limits on
    searches in flight hold for planned searches too."""
    if backend is None:
        raise SearchUnavailable("search is not configured")
    return plan.answer(conn, backend.search(plan.request, lag=False))
