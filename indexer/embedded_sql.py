"""SQL for the embedded search backend, built without a connection: tables, matches, sorts.

Kept apart from the I/O in `indexer.embedded`, as `indexer.elastic_query` is from
`indexer.elastic`, and mirroring it clause by clause so both backends answer alike: a word
matches as a whole jieba token, an exact code (or, typed in part, a code's prefix) or a run
of characters in the text; a phrase as a code or a run of characters.

The text table imitates Elasticsearch's standard analyzer: the text is stored as its
standard tokens (one per Han character, one per ASCII word) joined by spaces, so a trigram
match of ` 复 印 ` is the phrase query 复印 — any length, even one character, uses the
trigram index, and `70g` never matches inside `170g`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from indexer.documents import region_path
from indexer.elastic_query import BOOST_CODE, BOOST_TITLE, BOOST_TOKEN
from indexer.search import CursorMismatch, ParsedQuery, SearchFilter, SearchRequest
from indexer.text import normalise

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Standard-analyzer tokens: each Han character alone, other word characters in runs (3.5 whole).
_STANDARD = re.compile(rf"[{_HAN}]|[^\W{_HAN}]+(?:[.'][^\W{_HAN}]+)*")
_NOT_WORD = re.compile(r"[^\w]|_")

KIND_SLOTS = {"notice": 0, "transaction": 1, "party": 2, "penalty": 3}
# One pair of FTS5 tables per kind, as Elasticsearch has one index per kind: BM25's document
# counts and average lengths are then those of the kind, and both backends rank alike.
TERMS = {kind: f"search_terms_{kind}" for kind in KIND_SLOTS}
TEXTS = {kind: f"search_text_{kind}" for kind in KIND_SLOTS}
PLAIN_TABLES = ("search_docs", "search_tombstones")
ALL_TABLES = (*PLAIN_TABLES, *TERMS.values(), *TEXTS.values())
TABLES = (
    """CREATE TABLE IF NOT EXISTS search_docs (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, pk INTEGER NOT NULL,
        version INTEGER NOT NULL, date TEXT, year INTEGER, amount INTEGER,
        region_path TEXT, region_province TEXT, category_code TEXT, category_root TEXT,
        channel TEXT, notice_type TEXT, procurement_method TEXT, purchaser_id INTEGER,
        supplier_ids TEXT, title TEXT, text TEXT, flag_codes TEXT)""",
    "CREATE INDEX IF NOT EXISTS search_docs_kind_date ON search_docs (kind, date)",
    "CREATE INDEX IF NOT EXISTS search_docs_region ON search_docs (region_path)",
    "CREATE INDEX IF NOT EXISTS search_docs_amount ON search_docs (amount)",
    """CREATE TABLE IF NOT EXISTS search_tombstones (
        id INTEGER PRIMARY KEY, version INTEGER NOT NULL)""",
    *(
        f"""CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5(
        tokens, codes, tokenize="unicode61 tokenchars '_'")"""
        for name in TERMS.values()
    ),
    *(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5(title, text, tokenize='trigram')"
        for name in TEXTS.values()
    ),
)
DOC_COLUMNS = (
    "id", "kind", "pk", "version", "date", "year", "amount", "region_path", "region_province",
    "category_code", "category_root", "channel", "notice_type", "procurement_method",
    "purchaser_id", "supplier_ids", "title", "text", "flag_codes",
)  # fmt: skip
# Facet name → column; the same names and bucket counts as indexer.elastic_query.FACETS.
FACET_COLUMNS = {
    "kind": "kind",
    "notice_type": "notice_type",
    "region": "region_province",
    "category": "category_root",
    "channel": "channel",
    "year": "year",
}
TERMS_WEIGHTS = f"{BOOST_TOKEN}, {BOOST_CODE}"  # bm25 column weights: tokens, codes
TEXT_WEIGHTS = f"{BOOST_TITLE}, 1.0"  # title, text
CENT = Decimal("0.01")


def doc_id(kind: str, pk: int) -> int:
    """One rowid per (kind, pk) shared by every table: no lookup to find a document's rows."""
    return pk * 8 + KIND_SLOTS[kind]


def kind_of(doc: int) -> str:
    return next(kind for kind, slot in KIND_SLOTS.items() if doc % 8 == slot)


def standard(text: str | None) -> str:
    """` 复 印 纸 a4 70g `: the text's standard tokens, space-joined and space-padded."""
    found = _STANDARD.findall(normalise(text or ""))
    return f" {' '.join(found)} " if found else ""


@functools.lru_cache(maxsize=1 << 16)
def term_token(term: str) -> str:
    """A token or code as one FTS5 term: DS-2CD3T47 → ds_2cd3t47 (unicode61 keeps `_`).
    Cached: documents share a vocabulary, and this ran for every token of every document."""
    return _NOT_WORD.sub("_", normalise(term)).strip("_")


def fen(amount: Any) -> int | None:
    """Amounts as integer fen: exact sums, and sorting and ranges on an integer column."""
    return None if amount is None else int(Decimal(str(amount)).quantize(CENT) * 100)


@dataclass(frozen=True)
class Match:
    """One query term as two FTS5 queries; either may be empty (nothing to ask that table).

    `width` is the number of standard tokens in the text query: Lucene scores a phrase as the
    sum of its terms' IDFs, FTS5 as one IDF, so the text score is multiplied by it.
    """

    terms: str
    text: str
    width: int


def match(term: str, *, phrase: bool) -> Match:
    """indexer.elastic_query.term_clause, in FTS5: tokens (words only), codes, text."""
    token = term_token(term)
    folded = normalise(term)
    clauses = []
    if token:
        clauses.append(f'{"codes" if phrase else "{tokens codes}"} : "{token}"')
        if folded.isascii() and " " not in folded and len(folded) >= 3:
            clauses.append(f'codes : "{token}" *')  # a model number typed in part
    runs = standard(term)
    return Match(" OR ".join(clauses), f'"{runs}"' if runs else "", len(runs.split()))


def matched_ids(
    found: Match, kinds: list[str], key: str, params: dict[str, Any], *, scored: bool
) -> str:
    """A SELECT of (id[, score]) of the documents of `kinds` that `found` matches."""
    arms = []
    if found.terms:
        params[f"{key}_terms"] = found.terms
    if found.text:
        params[f"{key}_text"] = found.text
    for kind in kinds:
        for table, query, score in (
            (TERMS[kind], found.terms, f"-bm25({TERMS[kind]}, {TERMS_WEIGHTS})"),
            (TEXTS[kind], found.text, f"-bm25({TEXTS[kind]}, {TEXT_WEIGHTS}) * {found.width}"),
        ):
            if query:
                columns = f"rowid AS id, {score} AS s" if scored else "rowid AS id"
                name = f"{key}_terms" if table == TERMS[kind] else f"{key}_text"
                arms.append(f"SELECT {columns} FROM {table} WHERE {table} MATCH :{name}")
    if not arms:
        return "SELECT NULL AS id, 0.0 AS s WHERE 0" if scored else "SELECT NULL WHERE 0"
    return " UNION ALL ".join(arms)


def filters(value: SearchFilter, kinds: list[str], params: dict[str, Any]) -> list[str]:
    """indexer.elastic_query.filter_clauses on search_docs `d`: a NULL column drops its kind."""
    params.update({f"kind{i}": k for i, k in enumerate(kinds)})
    out = [f"d.kind IN ({', '.join(f':kind{i}' for i in range(len(kinds)))})"]
    if value.region_code and value.region_code != "100000":
        path = "/".join(region_path(value.region_code))
        if not path:
            out.append("0")
        else:  # the division's path and every path under it; '/' sorts just before '0'
            params.update(region=path, region_end=path + "0")
            out.append("d.region_path >= :region AND d.region_path < :region_end")
    for name in ("notice_type", "procurement_method", "channel", "purchaser_id"):
        if getattr(value, name) is not None:
            params[name] = getattr(value, name)
            out.append(f"d.{name} = :{name}")
    if value.supplier_id is not None:
        params["supplier"] = f" {value.supplier_id} "
        out.append("instr(d.supplier_ids, :supplier) > 0")
    if value.flag_code is not None:  # flag_codes: ' CODE1 CODE2 ', as supplier_ids
        params["flag_code"] = f" {value.flag_code.upper()} "
        out.append("instr(d.flag_codes, :flag_code) > 0")
    if value.category_code_prefix:
        params["category"] = value.category_code_prefix.upper()
        out.append("substr(d.category_code, 1, length(:category)) = :category")
    if value.date_from:
        params["date_from"] = value.date_from.isoformat()
        out.append("d.date >= :date_from")
    if value.date_to:
        params["date_to"] = value.date_to.isoformat()
        out.append("d.date <= :date_to")
    if value.amount_min is not None:
        params["amount_min"] = int((value.amount_min * 100).to_integral_value(ROUND_CEILING))
        out.append("d.amount >= :amount_min")
    if value.amount_max is not None:
        params["amount_max"] = int((value.amount_max * 100).to_integral_value(ROUND_FLOOR))
        out.append("d.amount <= :amount_max")
    return out


def hits_query(request: SearchRequest, kinds: list[str], params: dict[str, Any]) -> str:
    """`WITH … hits AS (…)`: every matching document with its score, for pages and facets."""
    parsed: ParsedQuery = request.query
    must = [(w, False) for w in parsed.words] + [(p, True) for p in parsed.phrases]
    ctes, joins, scores = [], [], []
    for i, (term, phrase) in enumerate(must):
        arms = matched_ids(match(term, phrase=phrase), kinds, f"m{i}", params, scored=True)
        ctes.append(f"t{i} AS (SELECT id, sum(s) AS s FROM ({arms}) GROUP BY id)")
        joins.append(f"JOIN t{i} ON t{i}.id = d.id")
        scores.append(f"t{i}.s")
    where = filters(request.filter, kinds, params)
    for i, term in enumerate(parsed.excluded):
        found = match(term, phrase=" " in term)
        ids = matched_ids(found, kinds, f"x{i}", params, scored=False)
        where.append(f"d.id NOT IN ({ids})")
    columns = ", ".join(f"d.{c}" for c in DOC_COLUMNS if c not in ("title", "text"))
    hits = (
        f"SELECT {columns}, {' + '.join(scores) or '1.0'} AS score "
        f"FROM search_docs d {' '.join(joins)} WHERE {' AND '.join(where)}"
    )
    return f"WITH {', '.join([*ctes, f'hits AS ({hits})'])}"


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool
    nullable: bool = False


def sort_keys(request: SearchRequest) -> list[SortKey]:
    """indexer.elastic_query.sort: a total order, missing values last, kind and pk to tiebreak."""
    down = request.descending
    if request.order_by == "date":
        head = [SortKey("date", down, True)]
    elif request.order_by == "amount":
        head = [SortKey("amount", down, True), SortKey("date", down, True)]
    else:
        head = [SortKey("score", True), SortKey("date", True, True)]
    return [*head, SortKey("kind", False), SortKey("pk", down)]


def order_by(keys: list[SortKey]) -> str:
    return ", ".join(
        f"hits.{k.column} {'DESC' if k.descending else 'ASC'}{' NULLS LAST' if k.nullable else ''}"
        for k in keys
    )


def after(keys: list[SortKey], values: tuple[Any, ...], params: dict[str, Any]) -> str:
    """Keyset condition: rows strictly after `values` in the order of `keys`."""
    if len(values) != len(keys):
        raise CursorMismatch("the cursor belongs to another order or backend: start again")
    condition = "0"
    for i in reversed(range(len(keys))):
        key, value, column = keys[i], values[i], f"hits.{keys[i].column}"
        params[f"a{i}"] = value
        if value is None:  # missing values come last: only other missing values tie
            beyond, equal = "0", f"{column} IS NULL"
        else:
            beyond = f"{column} {'<' if key.descending else '>'} :a{i}"
            if key.nullable:
                beyond = f"({beyond} OR {column} IS NULL)"
            equal = f"{column} = :a{i}"
        condition = f"({beyond} OR ({equal} AND {condition}))"
    return condition


def page_and_aggregates(keys: list[SortKey], where: str, *, keys_only: bool = False) -> str:
    """One statement after `hits_query`: the page's hits, then `aggregates_query`'s rows.

    `hits` is referenced by both, so SQLite materialises it once: the full-text matching, by far
    the dearest part of a search, runs once per request instead of once per result set. A hit
    comes as ('_hit', its columns as JSON, its rank on the page, its score): the score stays a
    REAL, exactly as a cursor compares it. `keys_only`: the page alone, without texts.
    """
    order = order_by(keys)
    title, body = ("NULL", "NULL") if keys_only else ("d.title", "d.text")
    page = (
        "SELECT '_hit', json_object('kind', p.kind, 'pk', p.pk, 'date', p.date, "
        f"'amount', p.amount, 'title', {title}, 'text', {body}), p.rank, p.score, NULL, NULL "
        f"FROM (SELECT hits.*, row_number() OVER (ORDER BY {order}) AS rank FROM hits "
        f"WHERE {where} ORDER BY {order} LIMIT :size) p JOIN search_docs d ON d.id = p.id"
    )
    return page if keys_only else f"{page} UNION ALL {aggregates_query()}"


def aggregates_query() -> str:
    """Facet counts, the total and amount stats of `hits`, as (facet, key, n, sum, min, max)."""
    arms = [
        f"SELECT '{name}', {column}, count(*), NULL, NULL, NULL FROM hits "
        f"WHERE {column} IS NOT NULL GROUP BY {column}"
        for name, column in FACET_COLUMNS.items()
    ]
    arms.append("SELECT '_total', NULL, count(*), NULL, NULL, NULL FROM hits")
    arms.append(
        "SELECT '_amount', NULL, count(amount), sum(amount), min(amount), max(amount) FROM hits"
    )
    return " UNION ALL ".join(arms)
