"""Elasticsearch request bodies, built without a client: mappings, queries, sorts, facets.

Kept apart from the I/O in `indexer.elastic` so the translation of a `SearchRequest` can be
read and tested on its own. User text only ever reaches term, prefix and match_phrase
queries, never `query_string`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from indexer.documents import document_fields
from indexer.search import AmountStats, Bucket, ParsedQuery, SearchFilter, SearchRequest
from indexer.text import normalise

# Search type (indexer.documents.SearchField.type) → Elasticsearch mapping.
FIELD_TYPES: dict[str, dict[str, Any]] = {
    "keyword": {"type": "keyword", "ignore_above": 1024},
    "text": {"type": "text", "analyzer": "standard"},  # Han text → one token per character
    "stored_text": {"type": "text", "index": False},  # searched through `text`, kept to show
    "tokens": {"type": "keyword"},  # jieba tokens, already lowercased in Python
    # No length normalisation: keyword fields keep no lengths, yet BM25 still divides by the
    # average count of codes, which made a party's one code score below an order's six.
    "codes": {
        "type": "keyword",
        "normalizer": "lowercase",
        "ignore_above": 256,
        "similarity": "codes",
    },
    "integer": {"type": "long"},
    "decimal": {"type": "double"},  # _source keeps the exact decimal string
    "date": {"type": "date", "format": "strict_date"},
    "datetime": {"type": "date", "format": "strict_date_optional_time"},
    "boolean": {"type": "boolean"},
}
# Facet name → (aggregation field, buckets kept).
FACETS = {
    "kind": ("kind", 10),
    "notice_type": ("notice_type", 50),
    "region": ("region_province", 50),  # provinces: a filter narrows below them
    "category": ("category_root", 100),  # first level of the item catalogue: A02, C16…
    "channel": ("channel", 10),
    "year": ("year", 50),
}
BOOST_CODE = 6.0  # a model number or order id typed exactly is the best match there is
BOOST_TOKEN = 3.0  # a whole jieba word beats the same characters inside another word
BOOST_TITLE = 2.0


def mappings(kind: str, *, smartcn: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for spec in document_fields(kind):
        mapping = dict(FIELD_TYPES[spec.type])
        if spec.type == "text" and smartcn:
            mapping["fields"] = {"smartcn": {"type": "text", "analyzer": "smartcn"}}
        properties[spec.name] = mapping
    return {"dynamic": False, "properties": properties}


def _is_ascii_word(term: str) -> bool:
    return term.isascii() and " " not in term


def term_clause(term: str, *, phrase: bool, smartcn: bool) -> dict[str, Any]:
    """One word or phrase: a jieba token, a substring of the text, or an exact code."""
    folded = normalise(term)
    should: list[dict[str, Any]] = [
        {"match_phrase": {"text": {"query": term}}},
        {"match_phrase": {"title": {"query": term, "boost": BOOST_TITLE}}},
        {"term": {"codes": {"value": folded, "boost": BOOST_CODE}}},
    ]
    if not phrase:
        should.append({"term": {"tokens": {"value": folded, "boost": BOOST_TOKEN}}})
    if _is_ascii_word(folded) and len(folded) >= 3:
        # A model number typed in part: DS-2CD3T47 finds ds-2cd3t47dwd-l.
        should.append({"prefix": {"codes": {"value": folded}}})
    if smartcn:
        should.append({"match": {"text.smartcn": {"query": term, "operator": "and"}}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def filter_clauses(value: SearchFilter) -> list[dict[str, Any]]:
    """Each set filter as a clause; a kind without the field drops out of the results."""
    out: list[dict[str, Any]] = []
    if value.region_code and value.region_code != "100000":
        out.append({"term": {"region_path": value.region_code}})
    for name in ("notice_type", "procurement_method", "channel", "purchaser_id"):
        if getattr(value, name) is not None:
            out.append({"term": {name: getattr(value, name)}})
    if value.supplier_id is not None:
        out.append({"term": {"supplier_ids": value.supplier_id}})
    if value.flag_code is not None:
        out.append({"term": {"flag_codes": value.flag_code.upper()}})
    if value.category_code_prefix:
        out.append({"prefix": {"category_code": value.category_code_prefix.upper()}})
    dates = {k: v.isoformat() for k, v in (("gte", value.date_from), ("lte", value.date_to)) if v}
    if dates:
        out.append({"range": {"date": dates}})
    amounts = {
        k: float(v)
        for k, v in (("gte", value.amount_min), ("lte", value.amount_max))
        if v is not None
    }
    if amounts:
        out.append({"range": {"amount": amounts}})
    return out


def query(parsed: ParsedQuery, search_filter: SearchFilter, *, smartcn: bool) -> dict[str, Any]:
    must = [term_clause(w, phrase=False, smartcn=smartcn) for w in parsed.words]
    must += [term_clause(p, phrase=True, smartcn=smartcn) for p in parsed.phrases]
    must_not = [term_clause(x, phrase=" " in x, smartcn=smartcn) for x in parsed.excluded]
    return {
        "bool": {
            "must": must or [{"match_all": {}}],
            "must_not": must_not,
            "filter": filter_clauses(search_filter),
        }
    }


def sort(request: SearchRequest) -> list[dict[str, Any]]:
    """A total order: the kind and pk tiebreak make `search_after` exact even without a PIT."""
    direction = "desc" if request.descending else "asc"
    dated = {"date": {"order": direction, "missing": "_last"}}
    if request.order_by == "date":
        head = [dated]
    elif request.order_by == "amount":
        head = [{"amount": {"order": direction, "missing": "_last"}}, dated]
    else:
        head = [{"_score": {"order": "desc"}}, {"date": {"order": "desc", "missing": "_last"}}]
    return [*head, {"kind": {"order": "asc"}}, {"pk": {"order": direction}}]


def aggregations() -> dict[str, Any]:
    aggs: dict[str, Any] = {
        name: {"terms": {"field": field, "size": size}} for name, (field, size) in FACETS.items()
    }
    aggs["amount"] = {"stats": {"field": "amount"}}
    return aggs


def _money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(Decimal("0.01"))


def facets(aggs: dict[str, Any]) -> tuple[dict[str, list[Bucket]], AmountStats | None]:
    buckets = {
        name: [
            Bucket(str(b.get("key_as_string", b["key"])), b["doc_count"])
            for b in aggs[name]["buckets"]
        ]
        for name in FACETS
        if name in aggs
    }
    stats = aggs.get("amount")
    if not stats:
        return buckets, None
    return buckets, AmountStats(
        count=stats["count"],
        sum=_money(stats["sum"]) if stats["count"] else None,
        min=_money(stats["min"]),
        max=_money(stats["max"]),
        avg=_money(stats["avg"]),
    )


def highlight_terms(parsed: ParsedQuery) -> list[str]:
    """Words and phrases, plus each phrase's words: a phrase may span a line break."""
    parts = [w for p in parsed.phrases for w in p.split()]
    return list(dict.fromkeys([*parsed.words, *parsed.phrases, *parts]))
