"""Helpers for the planner's tests: a query's root fields as `Selection`s, the strawberry way.

A small stand-in for hub/read/plan/build.py, for tests that compile one field by hand: the
arguments are coerced by graphql-core, then turned into the strawberry input instances the
resolvers receive (keyed by Python name), as the planner's builder does.
"""

from __future__ import annotations

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
from strawberry.types.arguments import convert_arguments

from hub.graphql.schema import schema
from hub.read.plan.selection import Selection


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
