"""References between the node types, each declared once: an annotation and a builder.

The types refer to each other both ways (a party's awards and an award's suppliers, a flag's
project and a project's flags), so the modules defining them cannot all import each other at
the top. strawberry's lazy reference, its mechanism for such cycles, names each type for the
schema (`PartyRef`); the same reference builds one from a row at run time (`PARTY.build`),
the class resolved once, on first use.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.graphql.catalogue_types import from_row

if TYPE_CHECKING:
    from hub.graphql.flags import Flag
    from hub.graphql.parties import Party, Publisher
    from hub.graphql.projects import Notice, Project
    from hub.graphql.transactions import Transaction

ProjectRef = Annotated["Project", strawberry.lazy("hub.graphql.projects")]
NoticeRef = Annotated["Notice", strawberry.lazy("hub.graphql.projects")]
PartyRef = Annotated["Party", strawberry.lazy("hub.graphql.parties")]
PublisherRef = Annotated["Publisher", strawberry.lazy("hub.graphql.parties")]
TransactionRef = Annotated["Transaction", strawberry.lazy("hub.graphql.transactions")]
FlagRef = Annotated["Flag", strawberry.lazy("hub.graphql.flags")]


class NodeRef:
    """Builds a node type, named by its module, from a database row."""

    def __init__(self, type_name: str, module: str) -> None:
        self.lazy: strawberry.LazyType[str, str] = strawberry.LazyType(type_name, module)

    @cached_property
    def cls(self) -> type[Any]:
        return self.lazy.resolve_type()

    def build(self, row: Any) -> Any:
        return from_row(self.cls, row)

    def maybe(self, row: Any) -> Any:
        """`build`, or None for a row that is missing."""
        return None if row is None else from_row(self.cls, row)


PROJECT = NodeRef("Project", "hub.graphql.projects")
NOTICE = NodeRef("Notice", "hub.graphql.projects")
PARTY = NodeRef("Party", "hub.graphql.parties")
PUBLISHER = NodeRef("Publisher", "hub.graphql.parties")
TRANSACTION = NodeRef("Transaction", "hub.graphql.transactions")
FLAG = NodeRef("Flag", "hub.graphql.flags")
