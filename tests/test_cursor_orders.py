"""A cursor sent back to another order or list is the client's mistake, on every connection.

A client keeps `endCursor` and changes `orderBy` (or pastes a cursor of another list): the
answer is BAD_USER_INPUT naming `after`, or a page when the cursor happens to fit the new
order (two orders on times of the same type); never "Unexpected error." Every order of every
connection is tried with the cursors of its other orders and of the other lists, with the
planner on and off, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, get_named_type

from hub.app import create_app
from hub.config import Settings
from tests.conftest import fresh_database
from tests.hub_server import graphql, running
from tests.plan_generate import SCHEMA
from tests.plan_queries import load_dataset

CONNECTIONS = ["projects", "notices", "parties", "suppliers", "contracts", "penalties",
               "transactions", "flags"]  # fmt: skip


@dataclass(frozen=True)
class Listing:
    """One connection in one order: how to ask for it, `after` a cursor or not."""

    root: str
    order: str | None  # an orderBy field, or None for the connection's only order

    def query(self, after: str | None) -> str:
        args = ["first: 2"]
        if self.order:
            args.append(f"orderBy: {{field: {self.order}}}")
        if after is not None:
            args.append(f'after: "{after}"')
        return f"{{ {self.root}({', '.join(args)}) {{ pageInfo {{ endCursor }} }} }}"


def listings() -> list[Listing]:
    """Every order of every root connection, read from the schema."""
    found = []
    for root in CONNECTIONS:
        argument = SCHEMA.query_type.fields[root].args.get("orderBy")  # type: ignore[union-attr]
        if argument is None:
            found.append(Listing(root, None))
            continue
        order = get_named_type(argument.type)
        assert isinstance(order, GraphQLInputObjectType)
        field = get_named_type(order.fields["field"].type)
        assert isinstance(field, GraphQLEnumType)
        found += [Listing(root, value) for value in field.values]
    return found


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    folder: Path = tmp_path_factory.mktemp(f"cursors-{request.param}")
    with fresh_database(request.param, request, folder) as url:
        exports = str(folder / "exports")
        # no rate limit: each hub answers ~380 queries in seconds (the limit is 600 a minute)
        on = create_app(Settings(url, exports, None, planner=True, rate_limit=0))
        off = create_app(Settings(url, exports, None, planner=False, rate_limit=0))
        load_dataset(on.state.engine, folder)
        with running(on) as planned, running(off) as resolved:
            yield {"planner on": planned, "planner off": resolved}
        on.state.engine.dispose()
        off.state.engine.dispose()


def test_every_order_refuses_the_cursors_of_the_others_by_name(bases: dict[str, str]) -> None:
    every = listings()
    assert len(every) >= 18 and Listing("transactions", "AMOUNT") in every
    for name, base in bases.items():
        cursors: dict[Listing, str] = {}
        for listing in every:
            answer = graphql(base, listing.query(None))
            assert "errors" not in answer, (name, listing, answer)
            cursor = answer["data"][listing.root]["pageInfo"]["endCursor"]
            assert cursor, (name, listing, "the demo has rows in every list")
            cursors[listing] = cursor
        wrong = []
        for target in every:
            for source, cursor in cursors.items():
                if source == target:
                    continue
                answer = graphql(base, target.query(cursor))
                for error in answer.get("errors", []):
                    code = error.get("extensions", {}).get("code")
                    if code != "BAD_USER_INPUT" or "`after`" not in error["message"]:
                        wrong.append(f"{target} after a cursor of {source}: {error}")
        assert not wrong, f"{name}: {len(wrong)} wrong answers, e.g.\n" + "\n".join(wrong[:8])
