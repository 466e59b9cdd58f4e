"""The read layer's one error: a client's value it refuses (an id, a cursor, a bound).

GraphQL answers it as BAD_USER_INPUT with the message as is, the pages as a 400 page; the
read layer knows neither.
"""

from __future__ import annotations


class BadInput(ValueError):
    """A value from the client that cannot be read; the message names the value."""

    code = "BAD_USER_INPUT"

    @property
    def extensions(self) -> dict[str, str]:
        return {"code": self.code}
