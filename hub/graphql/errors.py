"""Expected errors carry `extensions.code`; anything else is masked as unexpected.

Codes: GRAPHQL_PARSE_FAILED (syntax), GRAPHQL_VALIDATION_FAILED (unknown fields, wrong
arguments, …), BAD_USER_INPUT (bad values: variables, literals, ids, cursors, pages),
NOT_FOUND, UNAUTHENTICATED, FORBIDDEN, QUERY_TOO_COMPLEX (limits), QUERY_TIMEOUT
(`CAIGOU_QUERY_TIMEOUT`). Everything else is "Unexpected error." and goes to the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from graphql import GraphQLError
from sqlalchemy.exc import DataError, StatementError
from strawberry.extensions import MaskErrors

from hub.read.errors import BadInput
from schema.db import READS_UNTIL, is_timeout

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
QUERY_TIMEOUT = "QUERY_TIMEOUT"

log = logging.getLogger("caigou.graphql")


class ApiError(Exception):
    code = "INTERNAL"

    @property
    def extensions(self) -> dict[str, str]:
        return {"code": self.code}


class BadUserInput(ApiError):
    code = BAD_USER_INPUT


class NotFound(ApiError):
    code = "NOT_FOUND"


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class QueryTooComplex(ApiError):
    code = "QUERY_TOO_COMPLEX"


class GraphQLValidationFailed(ApiError):
    code = VALIDATION_FAILED


def with_code(error: GraphQLError, code: str) -> GraphQLError:
    """The error, tagged with `code` unless it has one already."""
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}
    return error


def is_unexpected(error: GraphQLError) -> bool:
    """Mask everything except our own errors (the read layer's BadInput included) and
    GraphQL's coded request errors."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return not (error.extensions or {}).get("code")
    return not isinstance(original, ApiError | BadInput)


def is_request_error(error: GraphQLError) -> bool:
    """graphql-core's own error about the request itself (its variables), not a field's."""
    original = error.original_error
    return error.path is None and (original is None or isinstance(original, GraphQLError))


def is_logged(error: GraphQLError) -> bool:
    """Only what is masked is a fault worth a traceback in the log; a statement cut short by
    the query timeout is a client's slow query, logged in one line (`HubErrors`)."""
    original = error.original_error
    if original is not None and is_timeout(original):
        return False
    return is_unexpected(error) and not is_request_error(error)


def query_timeout(context: Any) -> str:
    """The limit that cut a read of this request short, for the log: its request's budget
    once spent (CAIGOU_REQUEST_TIMEOUT), else the statement's (CAIGOU_QUERY_TIMEOUT)."""
    until = READS_UNTIL.get()
    name, setting = "CAIGOU_QUERY_TIMEOUT", "query_timeout"
    if until is not None and time.monotonic() >= until:
        name, setting = "CAIGOU_REQUEST_TIMEOUT", "request_timeout"
    try:
        return f"{name} = {getattr(context.request.app.state.settings, setting):g} s"
    except AttributeError:
        return name


def _out_of_range(error: BaseException) -> bool:
    """A client's value the database cannot hold: a number beyond its integer or numeric
    type (PostgreSQL DataError, sqlite3's OverflowError) or a NUL in a PostgreSQL text."""
    if isinstance(error, StatementError) and error.orig is not None:
        error = error.orig
    return isinstance(error, OverflowError | DataError | psycopg.DataError)


def _cut(text: str) -> str:
    return text.splitlines()[0][:120] if text else ""


class HubErrors(MaskErrors):
    """MaskErrors that also codes what graphql-core reports uncoded, and names timeouts.

        Parse and validation errors are coded where they arise (hub.graphql.limits). What is
        left uncoded without an original error and without a path comes from coercing the
        request's variables (wrong types, missing, out of range; graphql-core's own errors, never
    a Python exception's message): BAD_USER_INPUT. A statement
        cut short by the query timeout answers QUERY_TIMEOUT, not "Unexpected error.".
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return super()._process_errors([self._coded(error) for error in errors])

    def _coded(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if is_request_error(error):
            return with_code(error, BAD_USER_INPUT)
        if original is not None and _out_of_range(original):
            return GraphQLError(
                "a value in the query is out of range for the field it filters, or holds a NUL "
                "character: " + _cut(str(getattr(original, "orig", None) or original)),
                nodes=error.nodes, path=error.path, extensions={"code": BAD_USER_INPUT},
            )  # fmt: skip
        if original is not None and is_timeout(original):
            self._log_timeout(error)
            return GraphQLError(
                "the query ran longer than the server allows (CAIGOU_QUERY_TIMEOUT a statement, "
                "CAIGOU_REQUEST_TIMEOUT all of a request's): narrow the filter or ask for less",
                nodes=error.nodes, path=error.path, extensions={"code": QUERY_TIMEOUT},
            )  # fmt: skip
        return error

    def _log_timeout(self, error: GraphQLError) -> None:
        """One line naming the operation, the field and the limit; no traceback."""
        # The planned path (hub/app.py) codes its errors with a HubErrors of its own,
        # outside any execution: then the operation is not known here, the limit is.
        context = getattr(self, "execution_context", None)
        path = ".".join(str(p) for p in error.path or ()) or "?"
        named = getattr(error.nodes[0], "name", None) if error.nodes else None
        field = getattr(named, "value", None)
        if field and field != path.split(".")[-1]:
            path = f"{path} ({field})"
        log.warning(
            "GraphQL operation %s: field %s cut short at %s",
            getattr(context, "operation_name", None) or "(anonymous)", path,
            query_timeout(getattr(context, "context", None)),
        )  # fmt: skip
