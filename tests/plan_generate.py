"""GraphQL documents generated over the schema for the differential test, with real values.

Hypothesis draws a root field, a random sub-selection of its scalar fields and relations
(aliases, inline and named fragments), and arguments whose values come from the dataset
(`Pools`): region codes, party and project ids, credit codes, dates, amounts, cursors of a
first page. Sometimes a value the resolver refuses (first: 101, limit: 1001, a group a field
cannot take): both paths must then give the same error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)
from graphql.pyutils import Undefined
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from hub.graphql.schema import schema
from hub.read.cursors import global_id

SCHEMA = schema._schema
# Roots not generated: `exports` reads the export folder, `publishers` has no arguments and
# is in the suite's own documents.
ROOTS = [
    "project", "projects", "notices", "parties", "suppliers", "contracts", "penalties",
    "transactions", "transactionStats", "contractStats", "awardStats", "search", "flags",
    "transactionStats", "contractStats", "awardStats",  # twice as likely: many groupings
    "node", "nodes", "transparencyScores", "transparencyTrend",
]  # fmt: skip
MAX_DEPTH = 4
MAX_FIELDS = 5


class Enum(str):
    """An enum value: printed bare in a document."""


@dataclass
class Pools:
    """Real values from the dataset, keyed by argument or input field name."""

    values: dict[str, list[Any]] = field(default_factory=dict)
    cursors: dict[str, list[str]] = field(default_factory=dict)  # connection type → cursors

    def get(self, name: str) -> list[Any]:
        return self.values.get(name) or []


POOL_SQL = {
    "regionCode": "SELECT DISTINCT region_code FROM transactions UNION "
    "SELECT DISTINCT region_code FROM projects WHERE region_code IS NOT NULL",
    "channel": "SELECT DISTINCT channel FROM transactions",
    "brand": "SELECT DISTINCT brand FROM transactions WHERE brand IS NOT NULL",
    "categoryCodePrefix": "SELECT DISTINCT substr(category_code, 1, 5) FROM transactions "
    "WHERE category_code IS NOT NULL",
    "uscc": "SELECT uscc FROM parties WHERE uscc IS NOT NULL ORDER BY id LIMIT 20",
    "ocid": "SELECT ocid FROM projects ORDER BY id LIMIT 20",
    "procurementMethod": "SELECT DISTINCT procurement_method FROM projects",
    "mainCategory": "SELECT DISTINCT main_category FROM projects",
    "status": "SELECT DISTINCT status FROM projects",
    "noticeType": "SELECT DISTINCT notice_type FROM notices",
    "role": "SELECT DISTINCT role FROM party_roles",
    "kind": "SELECT DISTINCT kind FROM penalty_records",
    "code": "SELECT DISTINCT code FROM flags",
    "flagCode": "SELECT DISTINCT code FROM flags",
    "severity": "SELECT DISTINCT severity FROM flags",
    "Date": "SELECT DISTINCT CAST(order_date AS VARCHAR) FROM transactions ORDER BY 1 LIMIT 12",
    "Decimal": "SELECT DISTINCT amount FROM transactions ORDER BY 1 LIMIT 12",
    "nameContains": "SELECT DISTINCT substr(name, 1, 2) FROM parties ORDER BY 1 LIMIT 10",
    "modelContains": "SELECT DISTINCT substr(model, 1, 2) FROM transactions "
    "WHERE model IS NOT NULL ORDER BY 1 LIMIT 10",
    "itemNameContains": "SELECT DISTINCT substr(item_name, 1, 2) FROM transactions ORDER BY 1 LIMIT 10",
    "query": "SELECT DISTINCT item_name FROM transactions ORDER BY 1 LIMIT 10",
}
PARTY_IDS = ("purchaserId", "supplierId", "agencyId", "subjectId", "partyId", "entityId", "member")


def pools_from(engine: Engine) -> Pools:
    pools = Pools()
    with engine.connect() as conn:
        for name, sql in POOL_SQL.items():
            pools.values[name] = [r[0] for r in conn.execute(text(sql)) if r[0] is not None]
        parties = [r[0] for r in conn.execute(text("SELECT id FROM parties ORDER BY id LIMIT 30"))]
        projects = [
            r[0] for r in conn.execute(text("SELECT id FROM projects ORDER BY id LIMIT 20"))
        ]
        orders = [
            r[0] for r in conn.execute(text("SELECT id FROM transactions ORDER BY id LIMIT 20"))
        ]
    pools.values["Decimal"] = [f"{int(v) // 100}.{int(v) % 100:02d}" for v in pools.get("Decimal")]
    pools.values["DateTime"] = [f"{d}T08:00:00+08:00" for d in pools.get("Date")]
    pools.values["regionCode"] += ["220000", "100000"]
    for name in PARTY_IDS:
        pools.values[name] = [global_id("Party", pk) for pk in parties]
    pools.values["projectId"] = [global_id("Project", pk) for pk in projects]
    pools.values["ID"] = pools.values["purchaserId"] + [
        global_id("Transaction", pk) for pk in orders
    ]
    pools.values["q"] = pools.values["query"]
    pools.values["from"] = pools.values["to"] = sorted({d[:7] for d in pools.get("Date")})
    return pools


def literal(value: Any) -> str:
    """A Python value (dicts, lists, Enum, str, numbers) as a GraphQL literal."""
    if value is None:
        return "null"
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"


Draw = Callable[[st.SearchStrategy[Any]], Any]


def input_value(draw: Draw, pools: Pools, name: str, kind: Any, depth: int = 0) -> Any:
    """A value of input type `kind` for the argument or field `name`, from the pools."""
    required = isinstance(kind, GraphQLNonNull)
    inner = kind.of_type if required else kind
    if isinstance(inner, GraphQLList):
        item = input_value(draw, pools, name, inner.of_type, depth)
        more = draw(st.lists(st.just(None), max_size=1))
        return [item] + [input_value(draw, pools, name, inner.of_type, depth) for _ in more]
    if isinstance(inner, GraphQLEnumType):
        return Enum(draw(st.sampled_from(sorted(inner.values))))
    if isinstance(inner, GraphQLInputObjectType):
        out = {}
        for key, spec in inner.fields.items():
            must = isinstance(spec.type, GraphQLNonNull) and spec.default_value is Undefined
            if must or (depth < 2 and draw(st.integers(0, 4)) == 0):
                out[key] = input_value(draw, pools, key, spec.type, depth + 1)
        return out
    if name in ("first", "last"):
        return draw(st.sampled_from([1, 2, 3, 5, 20, 100, 100, 101]))
    if name == "limit":
        return draw(st.sampled_from([1, 2, 5, 100, 1000, 1001]))
    if name in ("after", "before"):
        return draw(st.sampled_from(pools.cursors.get("any") or ["bad"]))
    assert isinstance(inner, GraphQLScalarType)
    pool = pools.get(name) if inner.name in ("String", "ID") else None
    pool = pool or pools.get(inner.name)
    if pool:
        return draw(st.sampled_from(pool))
    if inner.name == "Int":
        return draw(st.integers(0, 5))
    if inner.name == "Boolean":
        return draw(st.booleans())
    return draw(st.sampled_from(pools.get("regionCode") or ["220000"]))


PAGING = ("first", "after", "last", "before")
# How a page is asked for: mostly as clients do, sometimes as the resolver refuses.
PAGES = [(), (), ("first",), ("first",), ("first", "after"), ("first", "after"), ("last",),
         ("last", "before"), ("first", "last"), ("after",)]  # fmt: skip
STATS_GROUPS = {"transactionStats": ["SUPPLIER", "PURCHASER", "REGION", "CATEGORY", "MONTH",
                                     "BRAND"]}  # fmt: skip
OTHER_GROUPS = ["SUPPLIER", "PURCHASER", "REGION", "CATEGORY", "MONTH"]


def arguments(
    draw: Draw, pools: Pools, definition: GraphQLField, connection: str, field: str
) -> str:
    parts = []
    paging = draw(st.sampled_from(PAGES))
    for name, arg in definition.args.items():
        must = isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
        if name in PAGING:
            if name not in paging:
                continue
        elif not must and draw(st.integers(0, 2)) != 0:
            continue
        if name in ("after", "before"):
            cursors = pools.cursors.get(connection) or pools.cursors.get("any") or ["bad"]
            value: Any = draw(st.sampled_from(cursors))
        elif name == "groupBy" and isinstance(arg.type.of_type, GraphQLList):  # type: ignore[attr-defined]
            groups = STATS_GROUPS.get(field, OTHER_GROUPS)
            if draw(st.integers(0, 9)) == 0:  # a group this field cannot take, or none
                groups = sorted(get_named_type(arg.type).values)  # type: ignore[union-attr]
                value = [Enum(g) for g in draw(st.lists(st.sampled_from(groups), max_size=2))]
            else:
                value = [
                    Enum(g) for g in draw(st.lists(st.sampled_from(groups), min_size=1, max_size=2))
                ]
        else:
            value = input_value(draw, pools, name, arg.type)
        parts.append(f"{name}: {literal(value)}")
    return f"({', '.join(parts)})" if parts else ""


@st.composite
def document(draw: Draw, pools: Pools) -> str:
    """One query: a root field or two, sub-selections, aliases, maybe a named fragment."""
    fragments: list[str] = []
    query_type = SCHEMA.query_type
    assert query_type is not None
    roots = draw(st.lists(st.sampled_from(ROOTS), min_size=1, max_size=2))
    body = []
    for i, name in enumerate(roots):
        definition = query_type.fields[name]
        named = get_named_type(definition.type)
        alias = f"r{i}: " if i or draw(st.booleans()) else ""
        args = arguments(draw, pools, definition, named.name, name)
        body.append(f"{alias}{name}{args} {selection(draw, pools, named, 1, fragments)}")
    return "query Generated { " + " ".join(body) + " } " + " ".join(fragments)


def selection(draw: Draw, pools: Pools, kind: Any, depth: int, fragments: list[str]) -> str:
    if isinstance(kind, GraphQLInterfaceType | GraphQLUnionType):
        options = SCHEMA.get_possible_types(kind)
        chosen = draw(st.lists(st.sampled_from(options), max_size=2, unique_by=lambda t: t.name))
        spreads = [
            f"... on {t.name} {selection(draw, pools, t, depth + 1, fragments)}" for t in chosen
        ]
        return "{ __typename " + " ".join(spreads) + " }"
    assert isinstance(kind, GraphQLObjectType)
    usable = {
        name: f for name, f in kind.fields.items()
        if not any(isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined
                   for a in f.args.values())
        and (depth < MAX_DEPTH or is_leaf_type(get_named_type(f.type)))
    }  # fmt: skip
    names = draw(st.lists(st.sampled_from(sorted(usable)), min_size=1, max_size=MAX_FIELDS))
    parts = ["__typename"] if draw(st.integers(0, 5)) == 0 else []
    for i, name in enumerate(names):
        definition = usable[name]
        named = get_named_type(definition.type)
        alias = (
            f"a{depth}_{i}: " if (i and name in names[:i]) or draw(st.integers(0, 4)) == 0 else ""
        )
        args = arguments(draw, pools, definition, named.name, name) if definition.args else ""
        sub = (
            "" if is_leaf_type(named) else " " + selection(draw, pools, named, depth + 1, fragments)
        )
        parts.append(f"{alias}{name}{args}{sub}")
    inner = " ".join(parts)
    if draw(st.integers(0, 5)) == 0:
        fragment = f"F{len(fragments)}"
        fragments.append(f"fragment {fragment} on {kind.name} {{ {inner} }}")
        return f"{{ ...{fragment} }}"
    if draw(st.integers(0, 5)) == 0:
        return f"{{ ... on {kind.name} {{ {inner} }} }}"
    return "{ " + inner + " }"
