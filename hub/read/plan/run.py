"""Plan a validated operation, run the planned statements, assemble the answer's bytes.

`Planner.prepare` (on the event loop, no I/O) gives each root field its statement or None;
`execute` (in a worker thread, on the request's connection) runs the statements; fields
with None go to strawberry as a *narrowed* query, the same text with the planned fields
blanked out (so every error keeps its line and column), and `assemble` splices both in
the query's root order.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNonNull,
    OperationDefinitionNode,
    OperationType,
    TokenKind,
    VariableNode,
    Visitor,
    get_operation_ast,
    visit,
)
from graphql.execution.values import get_variable_values
from sqlalchemy.exc import DBAPIError

from hub.read.plan import stats as _stats  # noqa: F401  (registers the aggregates in ROOT)
from hub.read.plan.build import Builder, Decline, included
from hub.read.plan.kept import MISSING, Kept
from hub.read.plan.roots import ROOT, Compiled
from hub.read.plan.sqljson import prepare as prepare_connection
from hub.read.search_plan import SearchPlan, compile_search, run_planned
from indexer.search import SearchUnavailable
from schema.db import is_timeout

PLANNED, PARTIAL, FALLBACK = "planned", "partial", "fallback"
MAX_KEPT_QUERY = 16_384  # as the parse cache: longer texts are planned each time
MAX_KEPT_VARIABLES = 4_096
KEPT_TEXT = 256 * 1024  # text behind each cache (a plan is ~130 bytes per byte of it)
SEARCH = {"search": compile_search}  # answered by the search service, then one statement


@dataclass
class Shape:
    """What a query text and operation name give, whatever the variables."""

    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    roots: list[FieldNode]
    single: bool  # the document's only operation (narrowing keeps the text valid)
    constant: dict[int, Any] = field(default_factory=dict)  # arguments naming no variable


@dataclass
class Prepared:
    outcome: str
    keys: list[str] = field(default_factory=list)  # included root fields, in order
    compiled: dict[str, Compiled | SearchPlan] = field(default_factory=dict)
    narrowed: str | None = None  # the query for strawberry, when some fields fall back
    operation: str | None = None  # the operation's name, for the request log
    query: str = ""
    shape: Shape | None = None
    nodes: dict[str, FieldNode] = field(default_factory=dict)  # the planned fields, by key
    nullable: dict[str, bool] = field(default_factory=dict)  # …and whether they may be null
    # Set once a request with this text and these variables passed the hub's checks
    # (`checked`: size, depth, cost): the query's node count. A later request with the same
    # key is planned, checked and counted already (`Planner.kept`).
    checked: int | None = None
    # The statements as the driver takes them (PostgreSQL, `driver_texts`; None for a
    # search, whose statements follow its hits), compiled the second time the request is
    # asked for (`Planner.with_texts`): most never come back.
    texts: list[tuple[str, dict[str, Any]] | None] | None = None
    asked: int = 0


@dataclass
class Executed:
    """What running a plan gave: each field's JSON, the searches whose backend failed (the
    resolvers answer them), and the fields cut short by the query timeout (answered null,
    their error once: the resolvers would only wait the limit out a second time)."""

    answers: dict[str, bytes] = field(default_factory=dict)
    failed: dict[str, SearchUnavailable] = field(default_factory=dict)
    timed_out: dict[str, DBAPIError] = field(default_factory=dict)

    def null_data(self, prepared: Prepared) -> bool:
        """A non-null root field timed out: `data` is null, as graphql-core makes it."""
        return any(not prepared.nullable[key] for key in self.timed_out)


class Planner:
    """Per schema: the shapes of the query texts seen (bounded), and the compilers."""

    def __init__(self, strawberry_schema: Any, cached: int = 512) -> None:
        self.strawberry = strawberry_schema
        self.schema = strawberry_schema._schema
        self.shapes: Kept[tuple[str, str | None], Shape | None] = Kept(cached, KEPT_TEXT)
        # Plans by (text, operation, dialect, variables): a plan is a pure function of them
        # (no clock, no data), and clients repeat their variables (a page's filters).
        self.plans: Kept[tuple[str, str | None, str, bytes], Prepared] = Kept(cached, KEPT_TEXT)

    def shape(self, document: DocumentNode, query: str, name: str | None) -> Shape | None:
        key = (query, name)
        kept = self.shapes.get(key)
        if kept is not MISSING:
            return kept  # type: ignore[return-value]  # a Shape or None, as put below
        found = _shape(document, name)
        if len(query) <= MAX_KEPT_QUERY:
            self.shapes.put(key, found, len(query))
        return found

    def prepare(
        self,
        document: DocumentNode,
        query: str,
        name: str | None,
        variables: dict[str, Any] | None,
        dialect: str,
    ) -> Prepared:
        """Each included root field's statement (or None), cached per variables too."""
        try:
            values = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # not JSON (cannot come from HTTP): planned, not kept
            return self._prepare(document, query, name, variables, dialect)
        if len(values) > MAX_KEPT_VARIABLES or len(query) > MAX_KEPT_QUERY:
            return self._prepare(document, query, name, variables, dialect)
        key = (query, name, dialect, values)
        found = self.plans.get(key)
        if isinstance(found, Prepared):
            return found
        prepared = self._prepare(document, query, name, variables, dialect)
        self.plans.put(key, prepared, len(query) + len(values))
        return prepared

    def _key(
        self, query: str, name: str | None, variables: Any, dialect: str
    ) -> tuple[tuple[str, str | None, str, bytes], int] | None:
        """The plan cache's key and the text it weighs, or None: not kept (too long)."""
        if len(query) > MAX_KEPT_QUERY:
            return None
        try:
            values = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        if len(values) > MAX_KEPT_VARIABLES:
            return None
        return (query, name, dialect, values), len(query) + len(values)

    def kept(self, query: str, name: str | None, variables: Any, dialect: str) -> Prepared | None:
        """The plan of a request seen before, checked and wholly planned (every root field a
        statement): no parsing, validation or planning again. None: plan it afresh."""
        keyed = self._key(query, name, variables, dialect)
        found = self.plans.get(keyed[0]) if keyed else None
        if isinstance(found, Prepared) and found.checked is not None and found.texts:
            return found
        return None

    def with_texts(
        self, prepared: Prepared, query: str, name: str | None, variables: Any, dialect: Any
    ) -> None:
        """Give a whole plan its driver texts the second time it is asked for (`kept` then
        finds it): ~10 ms of CPU for a 25-alias query, spent on requests that come back. The
        texts about double what a plan holds, so its entry is weighed twice from then on."""
        prepared.asked += 1
        # Searches alone compile nothing (their statements are built per shape): kept at once.
        only_searches = all(isinstance(c, SearchPlan) for c in prepared.compiled.values())
        if prepared.texts is not None or (prepared.asked < 2 and not only_searches):
            return
        keyed = self._key(query, name, variables, dialect.name)
        if keyed is None or self.plans.get(keyed[0]) is not prepared:
            return  # not kept: texts would only be thrown away with it
        prepared.texts = driver_texts(prepared, dialect)
        self.plans.put(keyed[0], prepared, keyed[1] if only_searches else 2 * keyed[1])

    def _prepare(
        self,
        document: DocumentNode,
        query: str,
        name: str | None,
        variables: dict[str, Any] | None,
        dialect: str,
    ) -> Prepared:
        shape = self.shape(document, query, name)
        if shape is None:
            return Prepared(FALLBACK)
        coerced = get_variable_values(
            self.schema, shape.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):  # the variables' errors: strawberry reports them
            return Prepared(FALLBACK)
        builder = Builder(self.strawberry, shape.fragments, coerced, shape.constant)
        prepared = Prepared(PLANNED, query=query, shape=shape)
        named = shape.operation.name
        prepared.operation = named.value if named else None
        declined: list[FieldNode] = []
        query_type = self.schema.query_type
        for node in shape.roots:
            if not included(node, coerced):
                continue
            key = (node.alias or node.name).value
            prepared.keys.append(key)
            compiled: Compiled | SearchPlan | None = None
            compiler = ROOT.get(node.name.value) or SEARCH.get(node.name.value)
            if compiler is not None:
                try:
                    compiled = compiler(builder.selection(query_type, node), dialect)
                except Exception:  # Decline, or a compiler's fault: the resolver answers
                    compiled = None
            if compiled is None:
                declined.append(node)
            else:
                prepared.compiled[key] = compiled
                prepared.nodes[key] = node
                definition = query_type.fields[node.name.value]
                prepared.nullable[key] = not isinstance(definition.type, GraphQLNonNull)
        if not prepared.compiled:
            return Prepared(FALLBACK)
        if declined:
            if not shape.single:
                return Prepared(FALLBACK)
            prepared.outcome = PARTIAL
            planned = [n for n in shape.roots if (n.alias or n.name).value in prepared.compiled]
            try:
                prepared.narrowed = narrow(query, shape, planned)
            except Decline:
                return Prepared(FALLBACK)
        return prepared

    def without(self, prepared: Prepared, keys: Collection[str]) -> Prepared | None:
        """The plan with `keys` left to the resolvers (their search backend failed), or None
        when the resolvers must answer the whole request."""
        kept = {k: c for k, c in prepared.compiled.items() if k not in keys}
        shape = prepared.shape
        if not kept or shape is None or not shape.single:
            return None
        planned = [n for n in shape.roots if (n.alias or n.name).value in kept]
        try:
            narrowed = narrow(prepared.query, shape, planned)
        except Decline:
            return None
        return replace(prepared, outcome=PARTIAL, compiled=kept, narrowed=narrowed)


def _shape(document: DocumentNode, name: str | None) -> Shape | None:
    operation = get_operation_ast(document, name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None
    roots: list[FieldNode] = []
    for node in operation.selection_set.selections:
        if not isinstance(node, FieldNode):
            return None  # fragments at the root: left whole to strawberry
        roots.append(node)
    keys = [(n.alias or n.name).value for n in roots]
    if len(set(keys)) != len(keys):
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return Shape(operation, fragments, roots, single=len(operations) == 1)


def execute(conn: Any, prepared: Prepared, search: Any = None) -> Executed:
    """Each planned field's JSON text (blocking: run it in a worker thread). A `search` goes
    to the request's search service (`search`) first; a statement cut short by the query
    timeout answers that field null and is reported once (`Executed.timed_out`)."""
    prepare_connection(conn)
    done = Executed()
    for key, compiled in prepared.compiled.items():
        try:
            if isinstance(compiled, SearchPlan):
                try:
                    done.answers[key] = run_planned(compiled, conn, search)
                except SearchUnavailable as error:
                    done.failed[key] = error
                continue
            text = conn.execute(compiled.statement).scalar()
        except DBAPIError as error:
            if not is_timeout(error):
                raise
            conn.rollback()
            done.timed_out[key] = error
            done.answers[key] = b"null"
            continue
        done.answers[key] = b"null" if text is None else text.encode()
    return done


def driver_texts(
    prepared: Prepared, dialect: Any
) -> list[tuple[str, dict[str, Any]] | None] | None:
    """Each planned statement as its driver takes it (text, parameters), as SQLAlchemy would
    send it: compiled once per plan, so a request kept runs without SQLAlchemy at all
    (hub/pg_reads.py). A search's entry is None: its hydration's statements, compiled once
    per shape (hub/read/search.py), are known once its hits are. None: not a plan of these."""
    texts: list[tuple[str, dict[str, Any]] | None] = []
    for compiled in prepared.compiled.values():
        if isinstance(compiled, SearchPlan):
            texts.append(None)
            continue
        if not isinstance(compiled, Compiled):
            return None
        done = compiled.statement.compile(  # type: ignore[attr-defined]
            dialect=dialect, compile_kwargs={"render_postcompile": True}
        )  # fmt: skip
        processors = done._bind_processors
        params = {
            k: processors[k](v) if k in processors else v
            for k, v in done.construct_params().items()
        }  # fmt: skip
        texts.append((str(done), params))
    return texts


def assemble(
    prepared: Prepared,
    planned: dict[str, bytes],
    fallback: Any = None,
    errors: list[dict[str, Any]] | None = None,
    extensions: dict[str, Any] | None = None,
) -> bytes:
    """`{"data":{…}}` in root order; the planned fields' `errors` (timeouts) then the
    fallback's, and the extensions, as strawberry puts them. A fallback whose `data` is null
    (a non-null field failed) is the answer."""
    errors = [*(errors or ()), *((fallback or {}).get("errors") or ())]
    if fallback is not None and fallback.get("data") is None:
        return orjson.dumps({**fallback, "errors": errors} if errors else fallback)
    extra = {**(extensions or {}), **((fallback or {}).get("extensions") or {})}
    data = fallback.get("data") if fallback is not None else {}
    parts = []
    for key in prepared.keys:
        value = planned[key] if key in planned else orjson.dumps(data[key])
        parts.append(b'"' + key.encode() + b'":' + value)
    body = b'{"data":{' + b",".join(parts) + b"}"
    if errors:
        body += b',"errors":' + orjson.dumps(errors)
    if extra:
        body += b',"extensions":' + orjson.dumps(extra)
    return body + b"}"


def narrow(query: str, shape: Shape, planned: list[FieldNode]) -> str:
    """The query with the planned root fields blanked out, and with them the fragments and
    variable definitions only they used: same length, same lines, still valid."""
    text = list(query)
    blank: list[Any] = list(planned)
    kept = [n for n in shape.roots if n not in planned]
    used_vars, used_fragments = _uses(kept, shape.fragments)
    blank += [f for name, f in shape.fragments.items() if name not in used_fragments]
    definitions = list(shape.operation.variable_definitions or ())
    unused = [v for v in definitions if v.variable.name.value not in used_vars]
    if unused and len(unused) == len(definitions):
        start = definitions[0].loc.start_token.prev  # type: ignore[union-attr]
        end = definitions[-1].loc.end_token.next  # type: ignore[union-attr]
        while start is not None and start.kind is not TokenKind.PAREN_L:
            start = start.prev
        while end is not None and end.kind is not TokenKind.PAREN_R:
            end = end.next
        if start is None or end is None:
            raise Decline("variable definitions not found")
        _blank(text, start.start, end.end)
    else:
        for definition in unused:
            _blank(text, definition.loc.start, definition.loc.end)  # type: ignore[union-attr]
    for node in blank:
        _blank(text, node.loc.start, node.loc.end)
    return "".join(text)


def _blank(text: list[str], start: int, end: int) -> None:
    for i in range(start, end):
        if text[i] not in "\r\n":
            text[i] = " "


def _uses(
    nodes: list[FieldNode], fragments: dict[str, FragmentDefinitionNode]
) -> tuple[set[str], set[str]]:
    """Variables and fragments used by `nodes`, through fragments too."""
    variables: set[str] = set()
    seen: set[str] = set()
    pending: list[Any] = list(nodes)
    spreads: list[str] = []

    class Collect(Visitor):
        def enter_variable(self, node: VariableNode, *_: Any) -> None:
            variables.add(node.name.value)

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
            spreads.append(node.name.value)

    while pending:
        spreads.clear()
        for node in pending:
            visit(node, Collect())
        pending = []
        for name in spreads:
            if name not in seen and name in fragments:
                seen.add(name)
                pending.append(fragments[name])
    return variables, seen
