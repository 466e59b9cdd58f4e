"""Refuse oversized queries before they run: tokens, depth, aliases, and a node budget.

The node budget follows GitHub's: every connection multiplies the nodes below it by its
`first`/`last` (20 when absent), and the sum over all connections must stay within budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    Source,
    TokenKind,
    get_named_type,
    parse,
    value_from_ast_untyped,
)
from graphql.language.lexer import Lexer
from strawberry.extensions import SchemaExtension

from hub.graphql.errors import QueryTooComplex
from hub.graphql.relay import DEFAULT_PAGE

MAX_TOKENS = 3_000
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_NODES = 50_000


def count_tokens(query: str, limit: int) -> int:
    lexer = Lexer(Source(query))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
        if count > limit:
            break
    return count


@lru_cache(maxsize=512)
def parse_within_limits(query: str) -> DocumentNode:
    """Parse once per distinct query text: clients repeat a handful of queries.

    Lexing and parsing were half the CPU of a small query; the token limit is checked on
    the first sight of a text only, before the parser gets to see it.
    """
    if count_tokens(query, MAX_TOKENS) > MAX_TOKENS:
        raise QueryTooComplex(f"the query has more than {MAX_TOKENS} tokens")
    return parse(query)


class QueryLimits(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        execution_context = self.execution_context
        execution_context.graphql_document = parse_within_limits(execution_context.query or "")
        yield

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        if document is not None:
            walker = _Walker(self.execution_context, document)
            for definition in document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    walker.operation(definition)
            if walker.aliases > MAX_ALIASES:
                raise QueryTooComplex(
                    f"the query uses {walker.aliases} aliases, at most {MAX_ALIASES}"
                )
            if walker.depth > MAX_DEPTH:
                raise QueryTooComplex(
                    f"the query is {walker.depth} levels deep, at most {MAX_DEPTH}"
                )
            _record(self.execution_context, walker.nodes)
            if walker.nodes > MAX_NODES:
                raise QueryTooComplex(
                    f"the query could return {walker.nodes:,} nodes, at most {MAX_NODES:,}: "
                    "ask for smaller pages (first/last) or fewer nested lists"
                )
        yield


class _Walker:
    def __init__(self, execution_context: Any, document: Any) -> None:
        self.schema = execution_context.schema._schema
        self.variables = execution_context.variables or {}
        self.fragments = {
            d.name.value: d for d in document.definitions if d.kind == "fragment_definition"
        }
        self.aliases = 0
        self.depth = 0
        self.nodes = 0

    def operation(self, node: OperationDefinitionNode) -> None:
        root = self.schema.get_root_type(node.operation)
        if root is not None:
            self.selections(node.selection_set, root, 1, 1, set())

    def selections(
        self, selection_set: Any, parent: Any, depth: int, multiplier: int, seen: set[str]
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, depth, multiplier, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                self.selections(selection.selection_set, condition, depth, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    condition = self.schema.get_type(fragment.type_condition.name.value)
                    self.selections(
                        fragment.selection_set, condition, depth, multiplier, seen | {name}
                    )

    def field(
        self, node: FieldNode, parent: Any, depth: int, multiplier: int, seen: set[str]
    ) -> None:
        name = node.name.value
        if name.startswith("__"):
            return  # introspection (GraphiQL) is bounded by the schema itself
        if node.alias is not None:
            self.aliases += 1
        self.depth = max(self.depth, depth)
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(name)
        if definition is None or node.selection_set is None:
            return
        named = get_named_type(definition.type)
        if named.name.endswith("Connection"):
            size = self._argument(node, "first") or self._argument(node, "last") or DEFAULT_PAGE
            multiplier *= max(int(size), 1)
            self.nodes += multiplier
        target = named if isinstance(named, GraphQLObjectType) else parent
        if not isinstance(named, GraphQLObjectType):
            target = named
        self.selections(node.selection_set, target, depth + 1, multiplier, seen)

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                value = value_from_ast_untyped(argument.value, self.variables)
                return value if isinstance(value, int) else None
        return None


def _record(execution_context: Any, nodes: int) -> None:
    """Operation name and cost for the request log and metrics."""
    request = getattr(execution_context.context, "request", None)
    if request is None:
        return
    name = execution_context.operation_name
    if name is None and execution_context.graphql_document is not None:
        for definition in execution_context.graphql_document.definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name:
                name = definition.name.value
                break
    request.state.operation = name
    request.state.nodes = nodes
