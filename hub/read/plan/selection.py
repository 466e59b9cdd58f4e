"""What a root field asks for, as plain data: the planner's only input besides the dialect.

Built from a validated operation (fragments inlined, @skip/@include applied, arguments
coerced by graphql-core into the schema's Python input values), so a compiler never reads
the GraphQL syntax tree and can be tested with hand-written selections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Selection:
    """One field of the answer: `key` is the response key (the alias, else the name)."""

    key: str
    name: str  # the schema's field name as in GraphQL (camelCase), `__typename` included
    args: Mapping[str, Any] = field(default_factory=dict)  # coerced, keyed by Python name
    children: tuple[Selection, ...] = ()  # in response order; empty for a leaf
    type_name: str = ""  # the named type the field returns (`Transaction`, `String`, …)

    def child(self, name: str) -> tuple[Selection, ...]:
        """Every selection of field `name` (aliases may ask for it twice, with other args)."""
        return tuple(c for c in self.children if c.name == name)
