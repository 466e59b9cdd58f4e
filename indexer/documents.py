"""Search documents built from the database: one per record, the same for every backend.

A document carries the entity's public catalogue fields as they are, plus derived fields
that make every kind searchable and filterable alike (title, text, tokens, codes, date,
amount, region path, facets). Built in bulk: a few queries per call, never one per row.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import NaiveDatetime
from sqlalchemy import Connection, select
from sqlmodel import SQLModel

from indexer.search import KINDS
from indexer.text import tokens
from schema.catalogue import public_fields
from schema.codes import is_region_code, item_catalogue
from schema.columns import table_of
from schema.tables import (
    AWARD_SUPPLIERS,
    AWARDS,
    FLAGS,
    PARTIES,
    PARTY_ROLES,
    PROJECT_ITEMS,
    PROJECTS,
    Notice,
    Party,
    PenaltyRecord,
    Transaction,
)

ENTITY = {
    "notice": "notices",
    "transaction": "transactions",
    "party": "parties",
    "penalty": "penalty_records",
}
# Public fields whose name a derived field already takes: kept under another name.
RENAMED = {("penalty", "kind"): "penalty_kind"}
# Notices published once a winner is known name the suppliers and the awarded amount.
AWARDED_TYPES = frozenset({"result", "contract", "acceptance", "agency_fee"})
CHUNK = 500  # ids per IN list: well under SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class SearchField:
    """A document field and its search type: keyword, text, tokens, integer, decimal, date,
    datetime. Backends map these types; none restates a field."""

    name: str
    type: str
    label: str = ""


def _search_type(python_type: Any, column_type: str) -> str:
    if python_type is NaiveDatetime:  # schema.types.BeijingTime
        python_type = datetime
    if python_type is bool:
        return "boolean"
    if python_type is int:
        return "integer"
    if python_type is Decimal:
        return "decimal"
    if python_type is datetime:
        return "datetime"
    if python_type is date:
        return "date"
    return "stored_text" if column_type == "TEXT" else "keyword"


DERIVED = (
    SearchField("kind", "keyword", "类别"),
    SearchField("pk", "integer", "内部编号"),
    SearchField("title", "text", "标题"),
    SearchField("text", "text", "全文"),
    SearchField("tokens", "tokens", "分词"),
    SearchField("codes", "codes", "编号与型号"),
    SearchField("date", "date", "日期"),
    SearchField("year", "integer", "年份"),
    SearchField("amount", "decimal", "金额"),
    SearchField("region_code", "keyword", "行政区划代码"),
    SearchField("region_path", "keyword", "所属行政区划"),
    SearchField("region_province", "keyword", "省级行政区划"),
    SearchField("category_code", "keyword", "品目编码"),
    SearchField("category_root", "keyword", "品目大类"),
    SearchField("channel", "keyword", "采购渠道"),
    SearchField("notice_type", "keyword", "公告类型"),
    SearchField("procurement_method", "keyword", "采购方式"),
    SearchField("purchaser_id", "integer", "采购人"),
    SearchField("supplier_ids", "integer", "供应商"),
    SearchField("flag_codes", "keyword", "标记代码"),
)
EXTRA = {"party": (SearchField("roles", "keyword", "角色"),)}


def document_fields(kind: str) -> list[SearchField]:
    """Every field of a `kind` document with its search type, read from the catalogue."""
    fields = {f.name: f for f in (*DERIVED, *EXTRA.get(kind, ()))}
    columns = table_of(_model(kind)).c
    for spec in public_fields(ENTITY[kind]):
        name = RENAMED.get((kind, spec.name), spec.name)
        if name not in fields:
            column_type = str(columns[spec.name].type).upper()
            fields[name] = SearchField(
                name, _search_type(spec.python_type, column_type), spec.label
            )
    return list(fields.values())


def _model(kind: str) -> type[SQLModel]:
    models: dict[str, type[SQLModel]] = {
        "notice": Notice,
        "transaction": Transaction,
        "party": Party,
    }
    return models.get(kind, PenaltyRecord)


def region_path(code: str | None) -> list[str]:
    """The division and its ancestors (220102 → 220000, 220100, 220102), for descendant filters."""
    if not code or not is_region_code(code):
        return []
    path = [code[:2] + "0000", code[:4] + "00", code]
    return list(dict.fromkeys(path))


def documents(conn: Connection, kind: str, pks: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The search documents of `kind` for `pks`; a pk with no row (deleted) is left out."""
    if kind not in KINDS:
        raise ValueError(f"unknown search kind {kind!r}: one of {', '.join(KINDS)}")
    wanted = sorted(set(pks))
    builder = {
        "notice": _notices,
        "transaction": _transactions,
        "party": _parties,
        "penalty": _penalties,
    }[kind]
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), CHUNK):
        out.update(builder(conn, wanted[start : start + CHUNK]))
    return out


def _rows(conn: Connection, model: type[SQLModel], pks: Sequence[int]) -> list[Any]:
    table = table_of(model)
    return list(conn.execute(select(table).where(table.c.id.in_(pks))))


def _public(kind: str, row: Any) -> dict[str, Any]:
    mapping = row._mapping
    return {shown: mapping[name] for shown, name in _public_names(kind)}


@functools.cache
def _public_names(kind: str) -> tuple[tuple[str, str], ...]:
    """(document name, column) of a kind's public fields: read once, used per document."""
    return tuple((RENAMED.get((kind, s.name), s.name), s.name) for s in public_fields(ENTITY[kind]))


def _parties_by_id(conn: Connection, ids: Iterable[int | None]) -> dict[int, Any]:
    wanted = sorted({i for i in ids if i is not None})
    table = PARTIES
    found: dict[int, Any] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for row in conn.execute(select(table).where(table.c.id.in_(chunk))):
            found[row.id] = row
    return found


def _finish(
    kind: str,
    row: Any,
    *,
    title: str,
    texts: Iterable[str | None],
    codes: Iterable[str | None],
    day: date | None,
    **derived: Any,
) -> dict[str, Any]:
    """Public fields + derived fields; `text`, `tokens` and `codes` computed the same way."""
    text = "\n".join(dict.fromkeys(t for t in (title, *texts) if t))
    region = derived.get("region_code")
    path = region_path(region)
    category = derived.get("category_code")
    doc = _public(kind, row)
    doc.update(
        kind=kind,
        pk=row.id,
        title=title,
        text=text,
        tokens=list(dict.fromkeys(tokens(text))),
        codes=list(dict.fromkeys(c.strip().lower() for c in codes if c and c.strip())),
        date=day,
        year=day.year if day else None,
        amount=None,
        region_code=region,
        region_path=path,
        region_province=path[0] if path else None,
        category_code=category,
        category_root=category[:3] if category else None,
        channel=None,
        notice_type=None,
        procurement_method=None,
        purchaser_id=None,
        supplier_ids=[],
        flag_codes=[],
    )
    doc.update(derived)
    return doc


def _flag_codes(conn: Connection, column: str, ids: Iterable[int]) -> dict[int, list[str]]:
    """Sorted distinct rule codes of the flags on these projects or transactions."""
    flags = FLAGS
    wanted = sorted(set(ids))
    found: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(wanted), CHUNK):
        query = select(flags.c[column], flags.c.code).where(
            flags.c[column].in_(wanted[start : start + CHUNK])
        )
        for owner, code in conn.execute(query):
            found[owner].add(code)
    return {owner: sorted(codes) for owner, codes in found.items()}


def _category_name(code: str | None) -> str | None:
    item = item_catalogue().get(code) if code else None
    return item.name if item else None


def _notices(conn: Connection, pks: Sequence[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    rows = _rows(conn, Notice, pks)
    projects_t, awards_t, links_t = PROJECTS, AWARDS, AWARD_SUPPLIERS
    project_ids = sorted({r.project_id for r in rows})
    projects = {
        p.id: p for p in conn.execute(select(projects_t).where(projects_t.c.id.in_(project_ids)))
    }
    awarded: dict[int, Decimal] = defaultdict(Decimal)
    award_rows = conn.execute(
        select(awards_t.c.id, awards_t.c.project_id, awards_t.c.amount).where(
            awards_t.c.project_id.in_(project_ids), awards_t.c.status != "cancelled"
        )
    ).all()
    project_of_award = {a.id: a.project_id for a in award_rows}
    for award in award_rows:
        awarded[award.project_id] += award.amount or 0
    suppliers: dict[int, list[int]] = defaultdict(list)
    if project_of_award:
        for link in conn.execute(
            select(links_t).where(links_t.c.award_pk.in_(sorted(project_of_award)))
        ):
            project_suppliers = suppliers[project_of_award[link.award_pk]]
            if link.party_id not in project_suppliers:
                project_suppliers.append(link.party_id)
    parties = _parties_by_id(
        conn,
        [i for p in projects.values() for i in (p.purchaser_id, p.agency_id)]
        + [i for ids in suppliers.values() for i in ids],
    )
    flagged = _flag_codes(conn, "project_id", project_ids)
    lines = _item_lines(conn, project_ids)
    for row in rows:
        project = projects[row.project_id]
        names, specs = lines.get(project.id, ([], []))
        winners = suppliers[project.id] if row.notice_type in AWARDED_TYPES else []
        named = [parties.get(project.purchaser_id), parties.get(project.agency_id)]
        named += [parties.get(i) for i in winners]
        amount = awarded.get(project.id) if row.notice_type in AWARDED_TYPES else None
        yield row.id, _finish(
            "notice", row,
            title=row.title,
            texts=[row.full_text, project.title, project.procurement_method_details,
                   _category_name(project.category_code), *(p.name for p in named if p),
                   *names, *specs],
            codes=[row.ocid, row.release_id, project.project_code, project.category_code,
                   *(p.uscc for p in named if p), *specs],
            day=row.published_at.date(),
            amount=amount if amount is not None else project.budget,
            region_code=project.region_code,
            category_code=project.category_code,
            notice_type=row.notice_type,
            procurement_method=project.procurement_method,
            purchaser_id=project.purchaser_id,
            supplier_ids=list(winners),
            flag_codes=flagged.get(project.id, []),
        )  # fmt: skip


def _item_lines(
    conn: Connection, project_ids: Sequence[int]
) -> dict[int, tuple[list[str], list[str]]]:
    """Each project's item names and specifications (规格型号), for its notices' text."""
    items = PROJECT_ITEMS
    found: dict[int, tuple[list[str], list[str]]] = {}
    query = select(items.c.project_id, items.c.name, items.c.specification).where(
        items.c.project_id.in_(project_ids)
    )
    for project_id, name, spec in conn.execute(query.order_by(items.c.id)):
        names, specs = found.setdefault(project_id, ([], []))
        if name and name not in names:
            names.append(name)
        if spec and spec not in specs:
            specs.append(spec)
    return found


def _transactions(conn: Connection, pks: Sequence[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    rows = _rows(conn, Transaction, pks)
    parties = _parties_by_id(conn, [i for r in rows for i in (r.purchaser_id, r.supplier_id)])
    flagged = _flag_codes(conn, "transaction_id", [r.id for r in rows])
    for row in rows:
        purchaser, supplier = parties.get(row.purchaser_id), parties.get(row.supplier_id)
        yield row.id, _finish(
            "transaction", row,
            title=row.item_name,
            texts=[row.brand, row.model, _category_name(row.category_code),
                   purchaser.name if purchaser else None, supplier.name if supplier else None],
            codes=[row.model, row.brand, row.order_id, row.category_code, row.agreement_id,
                   purchaser.uscc if purchaser else None, supplier.uscc if supplier else None],
            day=row.order_date,
            amount=row.amount,
            region_code=row.region_code,
            category_code=row.category_code,
            channel=row.channel,
            purchaser_id=row.purchaser_id,
            supplier_ids=[row.supplier_id],
            flag_codes=flagged.get(row.id, []),
        )  # fmt: skip


def _parties(conn: Connection, pks: Sequence[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    rows = _rows(conn, Party, pks)
    links = PARTY_ROLES
    roles: dict[int, list[str]] = defaultdict(list)
    for link in conn.execute(
        select(links.c.party_id, links.c.role).where(links.c.party_id.in_(pks)).order_by(links.c.id)
    ):
        roles[link.party_id].append(link.role)
    for row in rows:
        yield row.id, _finish(
            "party", row,
            title=row.name,
            # Its own credit code in the text too: as a code alone, a party lost to its own
            # orders for an exact search of that code (relevance set, Elasticsearch).
            texts=[row.name_normalised, row.uscc],
            codes=[row.uscc],
            day=None,
            region_code=row.region_code,
            roles=roles[row.id],
        )  # fmt: skip


def _penalties(conn: Connection, pks: Sequence[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    rows = _rows(conn, PenaltyRecord, pks)
    parties = _parties_by_id(conn, [r.subject_id for r in rows])
    for row in rows:
        subject = parties.get(row.subject_id)
        yield row.id, _finish(
            "penalty", row,
            title=row.subject_name,
            texts=[subject.name if subject else None, subject.uscc if subject else None,
                   row.authority_name, row.decision_number, row.facts, row.legal_basis,
                   row.penalty],
            codes=[row.record_id, row.decision_number, row.ocid,
                   subject.uscc if subject else None],
            day=row.decision_date,
            amount=row.fine_amount,
            region_code=row.region_code,
            notice_type=row.kind,
            supplier_ids=[row.subject_id],
        )  # fmt: skip
