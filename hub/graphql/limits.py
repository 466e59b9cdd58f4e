"""Refuse oversized queries before they run: bytes, tokens, then cost (hub.graphql.cost).

Order matters for a hostile client: the byte limit is a length check, the token count a
linear scan, the cost walk linear in the document (fragments memoised); only then does
graphql-core validate. Parsed documents and their validation are cached per query text,
but only for small texts and within a byte budget, so distinct queries cannot grow memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    Source,
    TokenKind,
    parse,
    specified_rules,
)
from graphql.language.lexer import Lexer
from graphql.validation import MaxIntrospectionDepthRule, ValuesOfCorrectTypeRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from hub.graphql.cost import MAX_NESTING, check_cost
from hub.graphql.errors import (
    BAD_USER_INPUT,
    PARSE_FAILED,
    VALIDATION_FAILED,
    ApiError,
    QueryTooComplex,
    with_code,
)

MAX_QUERY_BYTES = 100_000  # default of CAIGOU_MAX_QUERY_BYTES: comments and blanks count
MAX_TOKENS = 3_000  # comments count too
CACHED_TEXT_BYTES = 16_384  # longer texts are parsed each time, never kept
CACHE_BYTES = 512 * 1024  # query text kept; its parsed form is ~80 bytes per byte of text


def return_freed_memory() -> None:
    """Have glibc give large freed buffers back to the system (process-wide, idempotent).

    glibc raises its mmap threshold to the largest block freed so far: after one 5 MB
    request body, later bodies came from the heap and stayed there once freed (40 distinct
    5 MB queries, all refused, took a hub from 218 to 607 MB). Fixed thresholds keep large
    blocks in their own mappings, unmapped on free. And glibc gives each new thread that
    meets contention an arena of its own (up to 8 per core), each keeping its freed memory:
    with pages, searches and publishing in worker threads the hub grew ~10 % in ten minutes
    of load (bench/load.py). Two arenas serve a process whose Python code holds the GIL.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        return  # not glibc


OPENING = frozenset((TokenKind.BRACE_L, TokenKind.PAREN_L, TokenKind.BRACKET_L))
CLOSING = frozenset((TokenKind.BRACE_R, TokenKind.PAREN_R, TokenKind.BRACKET_R))


def count_tokens(query: str, limit: int) -> int:
    """Tokens up to `limit` + 1, comments included (graphql-core's lexer skips them).

    Brackets nested past MAX_NESTING are refused here: graphql-core's recursive parser would
    meet Python's recursion limit first (a thousand `{` fit in the token limit).
    """
    lexer = Lexer(Source(query))
    count = depth = 0
    previous = lexer.token
    while count <= limit:
        token = lexer.advance()
        back = token.prev
        while back is not None and back is not previous:
            count += 1  # a comment between two tokens
            back = back.prev
        if token.kind is TokenKind.EOF:
            break
        if token.kind in OPENING:
            depth += 1
            if depth > MAX_NESTING:
                raise QueryTooComplex(f"the query nests more than {MAX_NESTING} levels")
        elif token.kind in CLOSING:
            depth -= 1
        count += 1
        previous = token
    return count


def check_size(query: str, max_bytes: int) -> None:
    if len(query) > max_bytes or len(query.encode("utf-8", "surrogatepass")) > max_bytes:
        size = len(query.encode("utf-8", "surrogatepass"))
        raise QueryTooComplex(
            f"the query is {size:,} bytes, at most {max_bytes:,} (comments and blanks count)"
        )
    try:
        tokens = count_tokens(query, MAX_TOKENS)
    except GraphQLSyntaxError as error:  # the lexer meets what no token starts with
        raise with_code(error, PARSE_FAILED) from None
    if tokens > MAX_TOKENS:
        raise QueryTooComplex(f"the query has more than {MAX_TOKENS:,} tokens (comments count)")


@dataclass
class Parsed:
    document: DocumentNode
    errors: list[GraphQLError] | None = None  # validation's, once validated


class ParseCache:
    """Least recently used parsed queries, bounded by the bytes of their texts."""

    def __init__(self, budget: int = CACHE_BYTES, largest: int = CACHED_TEXT_BYTES) -> None:
        self.budget = budget
        self.largest = largest
        self.size = 0
        self.entries: OrderedDict[str, Parsed] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, query: str) -> Parsed | None:
        with self.lock:
            found = self.entries.get(query)
            if found is not None:
                self.entries.move_to_end(query)
            return found

    def put(self, query: str, parsed: Parsed) -> None:
        weight = len(query)
        if weight > self.largest:
            return
        with self.lock:
            if query in self.entries:
                return
            self.entries[query] = parsed
            self.size += weight
            while self.size > self.budget:
                oldest, _ = self.entries.popitem(last=False)
                self.size -= len(oldest)


CACHE = ParseCache()


def parse_within_limits(query: str, max_bytes: int = MAX_QUERY_BYTES) -> Parsed:
    """Parse once per distinct small query text: clients repeat a handful of queries.

    Lexing and parsing were half the CPU of a small query; size and tokens are checked on
    the first sight of a text only, before the parser gets to see it.
    """
    found = CACHE.get(query) if len(query) <= max_bytes else None
    if found is not None:
        return found
    check_size(query, max_bytes)
    try:
        parsed = Parsed(parse(query, max_tokens=MAX_TOKENS))
    except GraphQLSyntaxError as error:
        raise with_code(error, PARSE_FAILED) from None
    CACHE.put(query, parsed)
    return parsed


class _ValuesOfCorrectType(ValuesOfCorrectTypeRule):
    """A literal of the wrong type or an invalid scalar is bad input, not a bad query."""

    def report_error(self, error: GraphQLError) -> None:
        super().report_error(with_code(error, BAD_USER_INPUT))


def checked(
    schema: Any, query: str, variables: dict[str, Any] | None, max_bytes: int = MAX_QUERY_BYTES
) -> tuple[DocumentNode, int] | None:
    """The document and its cost when the query passes every check `QueryLimits` makes
    (size, tokens, parse, cost, validation; the same caches), else None: the planned path
    then leaves the request to strawberry, which reports the refusal."""
    try:
        parsed = parse_within_limits(query, max_bytes)
        cost = check_cost(schema._schema, parsed.document, variables)
    except (GraphQLError, ApiError):  # QUERY_TOO_COMPLEX, fragment cycles, …
        return None
    if parsed.errors is None:
        parsed.errors = _validated(schema, parsed.document, specified_rules)
    return None if parsed.errors else (parsed.document, cost.nodes)


class _IntrospectionDepth(MaxIntrospectionDepthRule):
    """`__type { possibleTypes { interfaces { possibleTypes … } } }` would grow tenfold a
    level in pure Python (no statement, so no timeout). The cost walk leaves introspection
    to this rule of graphql-core's; refused, it is a query too complex, not a wrong one."""

    def report_error(self, error: GraphQLError) -> None:
        super().report_error(with_code(error, QueryTooComplex.code))


def _validated(schema: Any, document: DocumentNode, validation_rules: Any) -> list[GraphQLError]:
    ours = {ValuesOfCorrectTypeRule: _ValuesOfCorrectType,
            MaxIntrospectionDepthRule: _IntrospectionDepth}  # fmt: skip
    rules = tuple(ours.get(rule, rule) for rule in validation_rules)
    if _IntrospectionDepth not in rules:
        rules += (_IntrospectionDepth,)
    errors = validate_document(schema._schema, document, rules)
    return [with_code(error, VALIDATION_FAILED) for error in errors]


class QueryLimits(SchemaExtension):
    """Parse (cached), cost, then validate (cached): each refusal carries its code."""

    parsed: Parsed | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        max_bytes = getattr(context.context, "max_query_bytes", MAX_QUERY_BYTES)
        self.parsed = parse_within_limits(context.query or "", max_bytes)
        context.graphql_document = self.parsed.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        parsed = self.parsed
        if parsed is not None and context.graphql_document is parsed.document:
            _record(context, None)
            cost = check_cost(context.schema._schema, parsed.document, context.variables)
            _record(context, cost.nodes)
            if parsed.errors is None:
                parsed.errors = _validated(
                    context.schema, parsed.document, context.validation_rules
                )
            context.pre_execution_errors = parsed.errors
        yield


def _record(execution_context: Any, nodes: int | None) -> None:
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
