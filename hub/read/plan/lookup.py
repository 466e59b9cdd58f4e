"""`party(id:, uscc:)`: which party a lookup names, for its resolver and its compiler alike."""

from __future__ import annotations

from typing import Any

from hub.read.cursors import parse_global_id, shown_value
from hub.read.errors import BadInput
from schema.tables import PARTIES


def party_where(id: str | None, uscc: str | None) -> Any:
    """The WHERE of `party(id:, uscc:)`: exactly one of the two, an id of a party; BadInput
    otherwise (BAD_USER_INPUT)."""
    if (id is None) == (uscc is None):
        raise BadInput("party: give exactly one of `id` and `uscc`")
    if id is not None:
        try:
            type_name, pk = parse_global_id(id)
        except BadInput as error:
            raise BadInput(f"party(id:): {error}") from None
        if type_name != "Party":
            raise BadInput(f"party(id:): {shown_value(id)} is not the id of a party")
        return PARTIES.c.id == pk
    assert uscc is not None
    if not uscc.strip():
        raise BadInput("party(uscc:): empty; give a 统一社会信用代码")
    return PARTIES.c.uscc == uscc.upper()  # as PartyFilter(uscc:) compares it
