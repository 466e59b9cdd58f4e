"""What a query would cost, computed once per fragment and refused before any other work.

A fragment that spreads the next one twice, 40 levels deep, is 1 kB of text and 2^40
selections once expanded: the old walker expanded it and never finished. Here each fragment
is costed once (memoised) and its cost is combined arithmetically wherever it is spread,
so the work is linear in the document's size whatever it would expand to. The expanded
counts are still what is checked: a query refused for its expansion is refused in
microseconds.

The node budget follows GitHub's: every connection multiplies the nodes below it by its
`first`/`last`, a plain list by its `first`/`limit` or the number of `ids` asked for (each
as sent, from a variable or its default, else the schema's default, else 20), and the sum
over all of them must stay within budget. A size is read the way graphql-core will coerce
it (100.0 is 100), so no spelling of a page size escapes the count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    VariableNode,
    get_named_type,
    get_nullable_type,
    value_from_ast_untyped,
)

from hub.graphql.errors import GraphQLValidationFailed, QueryTooComplex
from hub.read.paging import DEFAULT_PAGE

MAX_DEPTH = 12  # fields within fields
MAX_ALIASES = 30
MAX_NODES = 50_000
MAX_SPREADS = 1_000  # fragment spreads once every fragment is expanded where it is spread
MAX_NESTING = 64  # selection sets, inline fragments and spreads within each other, as written
# graphql-core's OverlappingFieldsCanBeMerged compares every pair of fragments and every pair
# of fields sharing a response name: 300 fragments of one field each took it 5.3 s, 300
# `transactions(first: i)` side by side 1.3 s. These caps keep it within tens of ms.
MAX_FRAGMENTS = 50  # fragment definitions in a document
MAX_SAME_NAME = 20  # fields answering under one name in one selection set
# Texts of up to hundreds of kB count as many rows' worth: 25 aliases of `changes(first:
# 1000)` asking for `payload` were 25,000 nodes, within budget, and 25,000 payloads in memory.
# Weighted, a page of 1,000 payloads (the feed's largest) still fits, twice at most.
HEAVY: dict[tuple[str, str], int] = {("Change", "payload"): 20, ("Notice", "fullText"): 20}


@dataclass(frozen=True)
class Cost:
    """A selection's cost relative to where it stands: nodes per unit multiplier, depth below."""

    nodes: int = 0
    depth: int = 0
    aliases: int = 0
    spreads: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.nodes + other.nodes,
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.spreads + other.spreads,
        )


class CostWalker:
    """Costs a document's operations; each fragment definition is walked at most once."""

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any] | None
    ) -> None:
        self.schema = schema
        self.variables = variables or {}
        # A variable left out takes its default: the largest any operation declares (a
        # fragment is costed once for all of them).
        self.defaults: dict[str, Any] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                for variable in definition.variable_definitions or ():
                    if variable.default_value is not None:
                        value = value_from_ast_untyped(variable.default_value)
                        name = variable.variable.name.value
                        if _measure(value) > _measure(self.defaults.get(name)):
                            self.defaults[name] = value  # a page size, or a list of ids
        self.fragments: dict[str, FragmentDefinitionNode] = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.document = document
        defined = sum(isinstance(d, FragmentDefinitionNode) for d in document.definitions)
        if defined > MAX_FRAGMENTS:
            raise QueryTooComplex(f"the query defines {defined} fragments, at most {MAX_FRAGMENTS}")
        self.costed: dict[str, Cost] = {}
        self.top_names: dict[str, Counter[str]] = {}  # response names at a fragment's top
        self.in_progress: list[str] = []  # the chain of spreads being costed, for cycles
        self.nesting = 0

    def total(self) -> Cost:
        """The sum over the document's operations."""
        total = Cost()
        for definition in self.document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                root = self.schema.get_root_type(definition.operation)
                if root is not None:
                    total += self.selections(definition.selection_set, root)
        return total

    def selections(
        self, selection_set: SelectionSetNode, parent: Any, names: Counter[str] | None = None
    ) -> Cost:
        """The set's cost; `names` counts response names at the level this set merges into.

        Inline fragments and spread fragments merge into the level they stand in, as
        graphql-core merges them to compare fields; a level is checked by its owner.
        """
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise QueryTooComplex(f"the query nests selections more than {MAX_NESTING} deep")
        level: Counter[str] = Counter() if names is None else names
        cost = Cost()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                level[(selection.alias or selection.name).value] += 1
                cost += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                cost += self.selections(selection.selection_set, target, level)
            elif isinstance(selection, FragmentSpreadNode):
                cost += self.spread(selection.name.value)
                level.update(self.top_names.get(selection.name.value, {}))
        if names is None and level:
            name, count = level.most_common(1)[0]
            if count > MAX_SAME_NAME:
                raise QueryTooComplex(
                    f"{count} fields answer as {name!r} side by side, at most {MAX_SAME_NAME}"
                )
        self.nesting -= 1
        return cost

    def spread(self, name: str) -> Cost:
        """One more spread plus the fragment's own cost, costed the first time only."""
        known = self.costed.get(name)
        if known is None:
            fragment = self.fragments.get(name)
            if fragment is None:
                return Cost(spreads=1)  # unknown: validation names it
            if name in self.in_progress:
                chain = " → ".join([*self.in_progress[self.in_progress.index(name) :], name])
                raise GraphQLValidationFailed(
                    f'fragment "{name}" spreads itself ({chain}): fragments cannot form cycles'
                )
            self.in_progress.append(name)
            condition = self.schema.get_type(fragment.type_condition.name.value)
            top: Counter[str] = Counter()  # checked where the fragment is spread
            known = self.selections(fragment.selection_set, condition, top)
            self.in_progress.pop()
            self.costed[name] = known
            self.top_names[name] = top
        if known.spreads >= MAX_SPREADS:  # refused before any level is added up
            raise QueryTooComplex(_too_many_spreads(known.spreads + 1))
        return Cost(known.nodes, known.depth, known.aliases, known.spreads + 1)

    def field(self, node: FieldNode, parent: Any) -> Cost:
        name = node.name.value
        aliases = 1 if node.alias is not None else 0
        if name.startswith("__"):
            # Introspection reads the schema, not the database: its nesting is checked by
            # graphql-core's MaxIntrospectionDepthRule (limits.py); aliases count as any.
            return Cost(aliases=aliases)
        definition = (getattr(parent, "fields", None) or {}).get(name)
        if definition is None or node.selection_set is None:
            weight = HEAVY.get((getattr(parent, "name", ""), name), 0)
            return Cost(weight, depth=1, aliases=aliases)
        named = get_named_type(definition.type)
        below = self.selections(node.selection_set, named)
        nodes = below.nodes
        if named.name.endswith("Connection"):
            size = max(self._size(node, definition, ("first", "last")), 1)
            nodes = size + size * below.nodes
        elif isinstance(get_nullable_type(definition.type), GraphQLList) and not getattr(
            parent, "name", ""
        ).endswith("Connection"):  # a connection's `nodes`/`edges`: counted by its page size
            # A plain list (a project's notices, a party's awards) without a size counts as a
            # default page, so lists nested in lists multiply like connections do.
            size = max(self._size(node, definition, ("first", "limit", "ids")), 1)
            nodes = size + size * below.nodes
        return Cost(nodes, below.depth + 1, below.aliases + aliases, below.spreads)

    def _size(self, node: FieldNode, definition: Any, names: tuple[str, ...]) -> int:
        """The largest of the named size arguments as sent (or the schema's defaults)."""
        sent = {a.name.value: a.value for a in node.arguments or ()}
        sizes = []
        for name in names:
            argument = definition.args.get(name)
            if argument is None:
                continue
            value = argument.default_value
            if name in sent:
                ast = sent[name]
                given = value_from_ast_untyped(ast, self.variables)
                if given is Undefined and isinstance(ast, VariableNode):
                    given = self.defaults.get(ast.name.value, Undefined)
                if given is not None and given is not Undefined:  # null: the field's default
                    value = given
            size = len(value) if name == "ids" and isinstance(value, list) else _size_of(value)
            if size is not None:
                sizes.append(size)
        return max(sizes, default=DEFAULT_PAGE)


def _measure(value: Any) -> int:
    """How large a variable's default would make a size: its length for a list (of ids)."""
    return len(value) if isinstance(value, list) else (_size_of(value) or 0)


def _size_of(value: Any) -> int | None:
    """An Int as graphql-core coerces it (an integral float too), else None: validation or
    the resolver says what is wrong with it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return None


def _too_many_spreads(count: int) -> str:
    return f"the query expands to at least {count:,} fragment spreads, at most {MAX_SPREADS:,}"


def check_cost(schema: GraphQLSchema, document: DocumentNode, variables: Any) -> Cost:
    """The document's cost, or QueryTooComplex naming the limit it exceeds."""
    cost = CostWalker(schema, document, variables if isinstance(variables, dict) else None).total()
    if cost.spreads > MAX_SPREADS:
        raise QueryTooComplex(_too_many_spreads(cost.spreads))
    if cost.aliases > MAX_ALIASES:
        raise QueryTooComplex(f"the query uses {cost.aliases:,} aliases, at most {MAX_ALIASES}")
    if cost.depth > MAX_DEPTH:
        raise QueryTooComplex(f"the query is {cost.depth} levels deep, at most {MAX_DEPTH}")
    if cost.nodes > MAX_NODES:
        raise QueryTooComplex(
            f"the query could return {cost.nodes:,} nodes, at most {MAX_NODES:,}: "
            "ask for smaller pages (first/last) or fewer nested lists"
        )
    return cost
