"""The relations the project and party pages ask for, as SQL text.

Each is what a resolver of `hub/graphql` answers, in its order: a project's notices (the
timeline), lots, awards and contracts with their suppliers and flags (most severe first);
a party's roles, awards, flags, penalty count and projects. Every list here is read with no
value of the request's, so it is SQL text correlated to its parent row by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import literal_column, select

from hub.read.plan.build import Decline
from hub.read.plan.objects import TABLES, Relation, Rows, TextBase, node, page
from hub.read.plan.selection import Selection
from hub.read.plan.sqljson import Dialect, Part, lit, obj
from schema.severity import SEVERITIES

Where = Callable[[str], str]


def one(d: Dialect, sel: Selection, type_name: str, key: str, relations: Any = None) -> str:
    """The object of `type_name` whose id is `key` (SQL), or null."""
    name = d.alias()
    found = _text(node(d, sel, Rows(name), relations))
    table = TABLES[type_name].name
    return f"coalesce((select {found} from {table} {name} where {name}.id={key}),'null')"


def listing(
    d: Dialect, sel: Selection, type_name: str, source: Where, order: Where, relations: Any = None
) -> str:
    """`[obj,…]`: the rows `from {source(alias)}` (a table named alias, a join, a where) in
    `order(alias)`, as the resolver's list of them."""
    name = d.alias()
    rows = Rows(name)
    item = _text(node(d, sel, rows, relations))
    a = d.alias()
    columns = "".join(f"{a}.{c}," for c in sorted(rows.used))
    ordering = order(a)
    inner = f"select {columns}row_number() over (order by {ordering}) as rn from {source(a)}"
    return f"(select {d.array(name + '.rn', item)} from ({inner}) {name})"


def _text(part: Part) -> str:
    if not isinstance(part, str):  # pragma: no cover - these lists hold no bound value
        raise Decline("a list item with bind parameters")
    return part


def _party(d: Dialect, s: Selection, key: str) -> str:
    return one(d, s, "Party", key, PARTY)


def _suppliers(links: str, key: str, order: str) -> Relation:
    """A list of parties through a link table (`award_suppliers`, `contract_suppliers`)."""

    def relation(d: Dialect, s: Selection, r: Rows) -> str:
        ref = r.ref("id")
        return listing(
            d, s, "Party",
            lambda a: f"parties {a} join {links} {a}l on {a}l.party_id={a}.id "
            f"where {a}l.{key}={ref}",
            lambda a: f"{a}l.{order}", PARTY,
        )  # fmt: skip

    return relation


def _project(d: Dialect, s: Selection, r: Rows) -> str:
    return one(d, s, "Project", r.ref("project_id"), PROJECT)


def severity_order(a: str) -> str:
    """`by_severity`: most severe first (schema.severity), then id."""
    cases = " ".join(f"when '{value}' then {rank}" for rank, value in enumerate(SEVERITIES))
    return f"case {a}.severity {cases} else {len(SEVERITIES)} end,{a}.id"


def _evidence(d: Dialect, s: Selection, r: Rows) -> str:
    """`Flag.evidence`: the stored JSON is orjson's own (flags engine, sorted keys), so its
    text is the answer's bytes."""
    return f"coalesce({r.ref('evidence')},'null')"


def _flag_refs() -> dict[str, Relation]:
    return {
        "evidence": _evidence,
        "project": _project,
        "party": lambda d, s, r: _party(d, s, r.ref("party_id")),
    }


def flags(where: Callable[[Rows], Where]) -> Relation:
    """A list of flags, most severe first; `where(parent)(alias)` picks them."""

    def relation(d: Dialect, s: Selection, r: Rows) -> str:
        pick = where(r)
        return listing(
            d, s, "Flag", lambda a: f"flags {a} where {pick(a)}", severity_order, _flag_refs()
        )

    return relation


def _details(type_name: str, pick: Callable[[Rows], Where]) -> Relation:
    """A project's item lines or experts (hub.graphql.details), the rows `pick` keeps, in the
    loader's order (then id)."""
    table, order = (
        ("project_items", "{a}.section desc,{a}.position,{a}.id")
        if type_name == "Item"
        else ("evaluation_experts", "{a}.award_id,{a}.position,{a}.id")
    )

    def relation(d: Dialect, s: Selection, r: Rows) -> str:
        kept = pick(r)
        return listing(
            d, s, type_name, lambda a: f"{table} {a} where {kept(a)}", lambda a: order.format(a=a)
        )

    return relation


def _same(r: Rows, mine: str, theirs: str, more: str = "") -> Where:
    """Rows whose `theirs` is the row's `mine`, of the row's project (as the resolver
    filters its project's rows), and `more` (SQL on `{a}`)."""
    ref = r.ref(mine)
    project = "" if theirs == "project_id" else f" and {{a}}.project_id={r.ref('project_id')}"
    return lambda a: f"{a}.{theirs}={ref}" + (project + more).format(a=a)


AWARD: dict[str, Relation] = {
    "suppliers": _suppliers("award_suppliers", "award_pk", "party_id"),
    "project": _project,
    "items": _details("Item", lambda r: _same(r, "award_id", "award_id")),
    "evaluationExperts": _details("EvaluationExpert", lambda r: _same(r, "award_id", "award_id")),
}
CONTRACT: dict[str, Relation] = {
    "supplier": lambda d, s, r: _party(d, s, r.ref("supplier_id")),
    "suppliers": _suppliers("contract_suppliers", "contract_pk", "position"),
    "project": _project,
}


def _publisher(d: Dialect, s: Selection, r: Rows) -> str:
    return one(d, s, "Publisher", r.ref("publisher_id"))


def _supersedes(d: Dialect, s: Selection, r: Rows) -> str:
    return one(d, s, "Notice", r.ref("supersedes_id"), NOTICE)


def _sources(d: Dialect, s: Selection, r: Rows) -> str:
    """`Notice.sources`: every site it arrived from, by arrival (then id)."""
    name, ref = d.alias(), r.ref("id")
    rows = Rows(name)
    pairs: list[tuple[str, Part]] = []
    for child in s.children:
        if child.name == "sourceSite":
            pairs.append((child.key, d.string(rows.ref("source_site"))))
        elif child.name == "receivedAt":
            pairs.append((child.key, d.datetime(rows.ref("received_at"))))
        elif child.name == "publisher":
            pairs.append((child.key, _publisher(d, child, rows)))
        elif child.name == "__typename":
            pairs.append((child.key, lit('"NoticeSource"')))
        else:
            raise Decline(f"NoticeSource.{child.name}")
    item = _text(obj(pairs))
    a = d.alias()
    columns = "".join(f"{a}.{c}," for c in sorted(rows.used))
    ordering = f"{a}.received_at,{a}.id"
    inner = (
        f"select {columns}row_number() over (order by {ordering}) as rn "
        f"from notice_sources {a} where {a}.notice_id={ref}"
    )
    return f"(select {d.array(name + '.rn', item)} from ({inner}) {name})"


NOTICE: dict[str, Relation] = {
    "sources": _sources,
    "publisher": _publisher,
    "project": _project,
    "supersedes": _supersedes,
    "evaluationExperts": _details("EvaluationExpert", lambda r: _same(r, "id", "notice_id")),
}
LOT: dict[str, Relation] = {
    "project": _project,
    "items": _details("Item", lambda r: _same(r, "lot_id", "lot_id", " and {a}.section='tender'")),
}


def _children(table: str, type_name: str, order: str, refs: Any = None) -> Relation:
    """A project's rows of `table` in the loader's order (then id, for ties)."""

    def relation(d: Dialect, s: Selection, r: Rows) -> str:
        ref = r.ref("id")
        return listing(
            d, s, type_name, lambda a: f"{table} {a} where {a}.project_id={ref}",
            lambda a: f"{a}.{order},{a}.id", refs,
        )  # fmt: skip

    return relation


def _about_project(ref: str) -> Where:
    return lambda a: f"{a}.project_id={ref}"


PROJECT: dict[str, Relation] = {
    "purchaser": lambda d, s, r: _party(d, s, r.ref("purchaser_id")),
    "agency": lambda d, s, r: _party(d, s, r.ref("agency_id")),
    "notices": _children("notices", "Notice", "published_at", NOTICE),  # TIMELINE
    "lots": _children("lots", "Lot", "lot_id", LOT),
    "awards": _children("awards", "Award", "award_id", AWARD),
    "contracts": _children("contracts", "Contract", "contract_id", CONTRACT),
    "flags": flags(lambda r: _about_project(r.ref("id"))),
    "items": _details("Item", lambda r: _same(r, "id", "project_id", " and {a}.section='tender'")),
    "evaluationExperts": _details("EvaluationExpert", lambda r: _same(r, "id", "project_id")),
}


def _roles(d: Dialect, s: Selection, r: Rows) -> str:
    """`Party.roles`: role names in order."""
    name, ref = d.alias(), r.ref("id")
    source = (
        f"(select role,row_number() over (order by role) as rn from party_roles "
        f"where party_id={ref}) {name}"
    )
    return f"(select {d.array(name + '.rn', d.string(name + '.role'))} from {source})"


def _penalty_count(d: Dialect, s: Selection, r: Rows) -> str:
    ref = r.ref("id")
    return f"cast((select count(*) from penalty_records where subject_id={ref}) as text)"


def _awards(d: Dialect, s: Selection, r: Rows) -> str:
    """`Party.awards`: awards it won, in id order."""
    ref = r.ref("id")
    return listing(
        d, s, "Award",
        lambda a: f"awards {a} join award_suppliers {a}l on {a}l.award_pk={a}.id "
        f"where {a}l.party_id={ref}",
        lambda a: f"{a}.id", AWARD,
    )  # fmt: skip


def _party_flags(d: Dialect, s: Selection, r: Rows) -> Part:
    """`Party.flags(as:)`: as the supplier concerned, or on the projects it purchased."""
    relation = s.args.get("as_")
    ref = r.ref("id")
    if relation is None or relation.value == "supplier":
        return flags(lambda _: lambda a: f"{a}.party_id={ref}")(d, s, r)
    if relation.value == "purchaser":
        bought = f"(select id from projects where purchaser_id={ref})"
        return flags(lambda _: lambda a: f"{a}.project_id in {bought}")(d, s, r)
    raise Decline(f"Party.flags(as: {relation})")


def _projects(d: Dialect, s: Selection, r: Rows) -> Part:
    """`Party.projects`: projects it purchased, `ProjectOrder()` (last published first);
    a project without that date has no place in the list."""
    projects = TABLES["Project"]
    ref = r.ref("id")
    column: Any = literal_column(ref)
    base = TextBase(
        "projects",
        lambda t: f"{t}.purchaser_id={ref} and {t}.last_published_at is not null",
        select(projects.c.id).where(
            projects.c.purchaser_id == column, projects.c.last_published_at.is_not(None)
        ),
    )
    order = [projects.c.last_published_at, projects.c.id]
    return page(d, s, base, "Project", order, True, lambda s2, rows: node(d, s2, rows, PROJECT))


PARTY: dict[str, Relation] = {
    "roles": _roles,
    "penaltyCount": _penalty_count,
    "awards": _awards,
    "flags": _party_flags,
    "projects": _projects,
}
