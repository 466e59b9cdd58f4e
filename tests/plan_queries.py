"""Helpers for the planner's tests: a query's root fields as `Selection`s, the strawberry way.

A small stand-in for hub/read/plan/build.py, for tests that compile one field by hand: the
arguments are coerced by graphql-core, then turned into the strawberry input instances the
resolvers receive (keyed by Python name), as the planner's builder does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    get_named_type,
    parse,
    validate,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from sqlalchemy import Engine
from starlette.requests import Request
from strawberry.types.arguments import convert_arguments

from hub.demo import generate
from hub.demo.load import load_demo
from hub.graphql.context import Context
from hub.graphql.schema import schema
from hub.publishing import ingest_records
from hub.publishing.publishers import add_publisher
from hub.read.plan.selection import Selection
from schema.types import PublisherRole, RecordKind
from tests.factories import PAPER_DEALER, transaction


def root_selections(query: str, variables: dict[str, Any] | None = None) -> list[Selection]:
    """Every root field of the (only) operation, fragments inlined."""
    document = parse(query)
    errors = validate(schema._schema, document)
    assert not errors, errors
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    query_type = schema._schema.query_type
    assert query_type is not None
    coerced = get_variable_values(
        schema._schema, operation.variable_definitions or (), variables or {}
    )
    assert isinstance(coerced, VariableValues), coerced
    return _fields(operation.selection_set, query_type, fragments, coerced)


def _fields(
    selection_set: Any, parent: GraphQLObjectType, fragments: dict, variables: VariableValues
) -> list[Selection]:
    out: list[Selection] = []
    for node in selection_set.selections:
        if isinstance(node, InlineFragmentNode):
            out += _fields(node.selection_set, parent, fragments, variables)
        elif isinstance(node, FragmentSpreadNode):
            out += _fields(fragments[node.name.value].selection_set, parent, fragments, variables)
        else:
            assert isinstance(node, FieldNode)
            out.append(_field(node, parent, fragments, variables))
    return out


def _field(
    node: FieldNode, parent: GraphQLObjectType, fragments: dict, variables: VariableValues
) -> Selection:
    name = node.name.value
    key = node.alias.value if node.alias else name
    if name == "__typename":
        return Selection(key, name, {}, (), "String")
    definition = parent.fields[name]
    named = get_named_type(definition.type)
    raw = get_argument_values(definition, node, variables)
    args: dict[str, Any] = {}
    if raw:
        field = _strawberry_field(parent.name, name)
        args = convert_arguments(
            raw, field.arguments, scalar_registry=schema.schema_converter.scalar_registry,
            config=schema.config,
        )  # fmt: skip
    children: tuple[Selection, ...] = ()
    if node.selection_set is not None:
        assert isinstance(named, GraphQLObjectType)
        children = tuple(_fields(node.selection_set, named, fragments, variables))
    return Selection(key, name, args, children, named.name)


def _strawberry_field(type_name: str, graphql_name: str) -> Any:
    definition = schema.get_type_by_name(type_name)
    assert definition is not None
    for field in definition.fields:  # type: ignore[union-attr]
        if schema.config.name_converter.get_graphql_name(field) == graphql_name:
            return field
    raise KeyError(graphql_name)


PAPER = {"item_name": "复印纸", "model": "A4 70g 单张", "category_code": "A05040101", "unit": "张",
         "supplier_name": PAPER_DEALER[0], "supplier_uscc": PAPER_DEALER[1]}  # fmt: skip
# Rows the demo lacks, where an aggregate is easy to get wrong: a mean that falls on a half
# (ties go to even: 1.5 fen → 2, 2.5 fen → 2), a group of returns only (a negative sum, no
# mean), unit prices below a fen (0.005, 33.3333), no brand, another month and county.
EDGE_ROWS = [
    transaction("EDGE-1", brand="均值甲", quantity="1", unit_price="0.01", amount="0.01",
                order_date="2023-01-05"),
    transaction("EDGE-2", brand="均值甲", quantity="1", unit_price="0.02", amount="0.02",
                order_date="2023-01-06"),
    transaction("EDGE-3", brand="均值乙", quantity="100", unit_price="0.0001", amount="0.01",
                order_date="2023-01-07", region_code="220201"),
    transaction("EDGE-4", brand="均值乙", quantity="100", unit_price="0.0004", amount="0.04",
                order_date="2023-01-08", region_code="220201"),
    transaction("EDGE-5", brand="只退货", quantity="-1", unit_price="5.00", amount="-5.00",
                order_date="2023-02-01"),
    transaction("EDGE-6", brand="小数", quantity="2500", unit_price="0.005", amount="12.50",
                order_date="2023-02-02", **PAPER),
    transaction("EDGE-7", brand="小数", quantity="3", unit_price="33.3333", amount="100.00",
                order_date="2023-02-03", **PAPER),
    transaction("EDGE-8", brand="小数", quantity="-30", unit_price="0.005", amount="-0.15",
                order_date="2023-02-04", **PAPER),
    transaction("EDGE-9", brand="", quantity="1", unit_price="7.77", amount="7.77",
                order_date="2023-02-05"),
]  # fmt: skip


def load_dataset(engine: Engine, folder: Path) -> None:
    """The demo (small) plus EDGE_ROWS, published by an e-mall for 吉林 (220000)."""
    files = generate(folder / "demo", projects=30, transactions=1_500, penalties=30)
    assert all(result.status == "accepted" for _, result in load_demo(engine, files))
    with engine.begin() as conn:
        account, _ = add_publisher(conn, "测试电子卖场", PublisherRole.trading_platform,
                                   ["220000"], [RecordKind.transaction])  # fmt: skip
    result = ingest_records(engine, account, RecordKind.transaction, EDGE_ROWS)
    assert result.accepted == len(EDGE_ROWS), result.refusals


def resolve(engine: Engine, query: str, variables: dict[str, Any] | None = None) -> Any:
    """The strawberry resolvers' answer (`data`), without the planner, for comparisons."""
    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": []}
    with engine.connect() as conn:
        result = schema.execute_sync(
            query, variable_values=variables, context_value=Context(Request(scope), engine, conn)
        )
    assert not result.errors, result.errors
    return result.data
