"""Expected errors carry `extensions.code`; anything else is masked as unexpected."""

from __future__ import annotations

from graphql import GraphQLError


class ApiError(Exception):
    code = "INTERNAL"

    @property
    def extensions(self) -> dict[str, str]:
        return {"code": self.code}


class BadUserInput(ApiError):
    code = "BAD_USER_INPUT"


class NotFound(ApiError):
    code = "NOT_FOUND"


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class QueryTooComplex(ApiError):
    code = "QUERY_TOO_COMPLEX"


def is_unexpected(error: GraphQLError) -> bool:
    """Mask everything except our own errors and GraphQL's validation errors."""
    original = error.original_error
    if original is None:
        return False  # a syntax or validation error: the message helps the caller
    return not isinstance(original, ApiError)
