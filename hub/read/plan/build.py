"""A validated operation as `Selection`s, one per root field.

Fragments are inlined and @skip/@include applied with the request's variables; arguments
are coerced by graphql-core (`get_argument_values`) and then converted by strawberry into
the same Python values a resolver receives (input types become their strawberry instances,
keyed by Python name). Anything this module is not sure of (a fragment on an interface or
union, a field asked twice under one key, an argument strawberry would refuse) raises
`Decline`: the caller then leaves that root field to the resolvers.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionSetNode,
    Visitor,
    get_named_type,
    visit,
)
from graphql.execution.values import get_argument_values, get_directive_values
from strawberry.types.arguments import convert_arguments

from hub.read.plan.selection import Selection

BACKREF = "strawberry-definition"  # strawberry's link from a graphql-core field to its own


class Decline(Exception):
    """The planner is not sure: the field goes to the resolvers."""


def included(node: Any, variables: Any) -> bool:
    """@skip/@include, as graphql-core's collect_fields applies them."""
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    if skip and skip.get("if") is True:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return not (include and include.get("if") is False)


class Builder:
    """Selections of one request: the schema, its fragments and the coerced variables."""

    def __init__(
        self,
        strawberry_schema: Any,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Any,  # graphql-core's coerced VariableValues
        constant: dict[int, Any] | None = None,
    ) -> None:
        self.strawberry = strawberry_schema
        self.schema: GraphQLSchema = strawberry_schema._schema
        self.fragments = fragments
        self.variables = variables
        # Arguments of the fields whose arguments name no variable, by node: the same for
        # every request of the query, converted once (the caller keeps this per query).
        self.constant: dict[int, Any] = {} if constant is None else constant

    def _fragment(self, node: Any) -> tuple[Any, Any]:
        """A spread's or inline fragment's type condition and selections."""
        if isinstance(node, FragmentSpreadNode):
            fragment = self.fragments.get(node.name.value)
            if fragment is None:
                raise Decline("unknown fragment")
            return fragment.type_condition, fragment.selection_set
        if isinstance(node, InlineFragmentNode):
            return node.type_condition, node.selection_set
        raise Decline("unknown selection")  # pragma: no cover - graphql-core has no other

    def fields(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode | None
    ) -> list[FieldNode]:
        """The fields asked of `parent`, fragments inlined, in response order."""
        out: list[FieldNode] = []
        if selection_set is None:
            return out
        for node in selection_set.selections:
            if not included(node, self.variables):
                continue
            if isinstance(node, FieldNode):
                out.append(node)
                continue
            condition, inner = self._fragment(node)
            if condition is not None and condition.name.value != parent.name:
                raise Decline("a fragment on another type (interface or union)")
            out.extend(self.fields(parent, inner))
        keys = [(f.alias or f.name).value for f in out]
        if len(set(keys)) != len(keys):
            raise Decline("a response key asked twice: its selections would be merged")
        return out

    def selection(self, parent: GraphQLObjectType, node: FieldNode) -> Selection:
        name = node.name.value
        key = (node.alias or node.name).value
        if name == "__typename":
            return Selection(key=key, name=name, type_name="String")
        definition = parent.fields.get(name)
        if definition is None:
            raise Decline(f"no field {name} on {parent.name}")
        args: dict[str, Any] = {}
        if definition.args:
            args = self.constant.get(id(node)) or self.arguments(definition, node)
        named: GraphQLNamedType = get_named_type(definition.type)
        children: tuple[Selection, ...] = ()
        if node.selection_set is not None:
            if isinstance(named, GraphQLUnionType):
                children = self.groups(named, node.selection_set)
            elif isinstance(named, GraphQLObjectType):
                children = tuple(
                    self.selection(named, child) for child in self.fields(named, node.selection_set)
                )
            else:
                raise Decline("an interface")
        return Selection(key=key, name=name, args=args, children=children, type_name=named.name)

    def groups(
        self, union: GraphQLUnionType, selection_set: SelectionSetNode
    ) -> tuple[Selection, ...]:
        """A union's selections: its `__typename`, and one group per member type asked for
        (`Selection(name="", type_name=<the type>)`, that fragment's fields as children), in
        the order asked. A type asked in two fragments, or a fragment on an interface → Decline.
        """
        out: list[Selection] = []
        seen: set[str] = set()
        for node in selection_set.selections:
            if not included(node, self.variables):
                continue
            if isinstance(node, FieldNode):
                if node.name.value != "__typename" or node.selection_set is not None:
                    raise Decline("a field on a union")
                key = (node.alias or node.name).value
                out.append(Selection(key=key, name="__typename", type_name="String"))
                continue
            condition, inner = self._fragment(node)
            if condition is None or condition.name.value == union.name:
                out.extend(self.groups(union, inner))  # the union's own fields, spread
                continue
            member = self.schema.get_type(condition.name.value)
            if not isinstance(member, GraphQLObjectType) or member not in union.types:
                raise Decline("a fragment on an interface")
            if member.name in seen:
                raise Decline("a type asked in two fragments: their selections would be merged")
            seen.add(member.name)
            fields = tuple(self.selection(member, f) for f in self.fields(member, inner))
            out.append(Selection(key="", name="", children=fields, type_name=member.name))
        typenames = [s.key for s in out if s.name == "__typename"]
        if len(set(typenames)) != len(typenames):
            raise Decline("a response key asked twice")
        return tuple(out)

    def arguments(self, definition: Any, node: FieldNode) -> dict[str, Any]:
        """The resolver's keyword arguments: graphql-core's coercion, strawberry's types."""
        field = definition.extensions.get(BACKREF)
        if field is None:
            raise Decline("not a strawberry field")
        try:
            raw = get_argument_values(definition, node, self.variables)
            args: dict[str, Any] = convert_arguments(
                raw,
                field.arguments,
                scalar_registry=self.strawberry.schema_converter.scalar_registry,
                config=self.strawberry.config,
            )
        except Exception as error:  # graphql-core or strawberry refuses: their error
            raise Decline("arguments the resolvers would refuse") from error
        if args and not _names_variables(node):
            self.constant[id(node)] = args
        return args


def _names_variables(node: FieldNode) -> bool:
    found = False

    class Find(Visitor):
        def enter_variable(self, *_: Any) -> None:
            nonlocal found
            found = True

    for argument in node.arguments or ():
        visit(argument, Find())
    return found
