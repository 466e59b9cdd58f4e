"""The Elasticsearch search backend: versioned indices behind aliases, bulk writes, search.

One index per kind, `<prefix>-<kind>-v<timestamp>`, behind the alias `<prefix>-<kind>`;
a rebuild fills new indices and swaps every alias in one atomic `update_aliases`, so
searches never see a half-built index. Writes carry the record's change number as an
external version, so a change that arrives late never overwrites a newer one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, cast
from urllib.parse import quote, urlencode, urlsplit

import orjson
from elastic_transport import AiohttpHttpNode, ConnectionTimeout, HttpHeaders, NodeConfig
from elastic_transport.client_utils import DEFAULT
from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    Elasticsearch,
    NotFoundError,
    TransportError,
)
from elasticsearch.serializer import OrjsonSerializer

from indexer import elastic_query
from indexer.elastic_calls import Call, Calls, arun_calls, run_calls
from indexer.es_loop import LoopNode, answer_of
from indexer.es_node import StdlibHttpNode
from indexer.search import (
    KINDS,
    MAX_SIZE,
    CursorMismatch,
    Hit,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
)
from indexer.text import highlight

log = logging.getLogger(__name__)

PIT_KEEP_ALIVE = "2m"  # between two pages; each page renews it
LAST_SHARD_DOC = 2**63 - 1
PIT_PREFIX = "pit:"  # marks the point-in-time id carried as the cursor's last value


# What a search answer keeps (`filter_path`): no _index, _id, _shards, took.
SEARCH_FILTER = (
    "pit_id,hits.total.value,hits.hits._score,hits.hits._source,hits.hits.sort,aggregations"
)
# The hub's searches awaited on its loop go to `indexer.es_loop.LoopNode`; over https through
# the async client and this node (httpx's async node cost ~1.2 ms more a search).
ASYNC_NODE = AiohttpHttpNode
JSON_HEADERS = {"accept": "application/json", "content-type": "application/json"}
LOOP_HEADERS = HttpHeaders(JSON_HEADERS)


def search_path(index: str) -> str:
    """The URL path of a search of `index` (aliases joined by commas)."""
    return f"/{quote(index, safe=',')}/_search"


class BulkOp(NamedTuple):
    """One change: the document to index, or None to delete; `version` only ever grows."""

    kind: str
    pk: int
    document: Mapping[str, Any] | None
    version: int


@dataclass(frozen=True)
class BulkFailure:
    kind: str
    pk: int
    status: int
    error: str


def _json_value(value: Any) -> Any:
    """Decimals as exact strings (the mapping coerces them to numbers), dates as ISO text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def source(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in document.items()}


class ElasticBackend:
    """`SearchBackend` on Elasticsearch; `prefix` keeps several hubs (or test runs) apart."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "caigou",
        timeout: float = 10.0,
        search_timeout: float | None = None,
        index_settings: Mapping[str, Any] | None = None,
        point_in_time: bool = True,
    ) -> None:
        self.url = url
        self.prefix = prefix
        # orjson: a page's answer (hits with their text, facets) parses in a fraction of the time.
        self.client = Elasticsearch(
            url, request_timeout=timeout, max_retries=1, retry_on_status=(),
            serializer=OrjsonSerializer(),
            node_class=StdlibHttpNode if url.startswith("http:") else DEFAULT,
        )  # fmt: skip
        # Searches, health and the calls a search makes wait `search_timeout` (connect and
        # read) at most; bulk writes and index administration keep the longer `timeout`.
        self.reads = self.client.options(request_timeout=search_timeout or timeout)
        self.index_settings: dict[str, Any] = {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "similarity": {"codes": {"type": "BM25", "b": 0.0}},
        }
        self.index_settings.update(index_settings or {})
        self.point_in_time = point_in_time
        self._smartcn: bool | None = None
        self.search_timeout = search_timeout or timeout
        self._async: tuple[asyncio.AbstractEventLoop, LoopNode | AsyncElasticsearch] | None = None

    def alias(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """Connection failures, timeouts and missing indices become SearchUnavailable."""
        try:
            yield
        except TransportError as exc:  # connection refused, timeout, TLS
            raise SearchUnavailable(
                f"Elasticsearch at {self.url} did not answer: {_reason(exc)}"
            ) from exc
        except NotFoundError as exc:
            raise SearchUnavailable(
                f"search index missing ({exc.message}): run `caigou index rebuild`"
            ) from exc
        except ApiError as exc:
            if exc.meta.status not in (429, 503):  # a bad request is a bug, not an outage
                raise
            raise SearchUnavailable(f"Elasticsearch is busy or recovering: {exc}") from exc

    @property
    def smartcn(self) -> bool:
        """Whether the cluster has the analysis-smartcn plugin (stock distributions do not).

        Asked once, remembered; not a `functools.cached_property`, which on Python 3.11 holds
        one lock while computing: every concurrent search would queue behind a hung first ask.
        """
        if self._smartcn is None:
            with self._answering():
                answer = self.reads.cat.plugins(format="json", h="component")
            # format="json": a list of objects, not the text the client's types also allow
            plugins = cast(list[dict[str, Any]], answer.body)
            self._smartcn = any(p.get("component") == "analysis-smartcn" for p in plugins)
        return self._smartcn

    # indices and aliases

    def create_indices(self, kinds: Sequence[str] = KINDS) -> dict[str, str]:
        """New, empty versioned indices (kind → index name), not yet behind the aliases."""
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:-3]
        created = {}
        with self._answering():
            for kind in kinds:
                name = f"{self.alias(kind)}-v{stamp}"
                self.client.indices.create(
                    index=name,
                    settings=self.index_settings,
                    mappings=elastic_query.mappings(kind, smartcn=self.smartcn),
                )
                created[kind] = name
        return created

    def current_indices(self) -> dict[str, str]:
        """kind → the index its alias points at, for the kinds that have one."""
        # A 404 still lists the aliases that exist (one kind new in this version, say):
        # reading it as "none" would swap every kind to a new, empty index.
        with self._answering():
            found = self.client.options(ignore_status=404).indices.get_alias(
                name=[self.alias(k) for k in KINDS]
            )
        return {
            kind: index
            for index, info in found.body.items()
            if isinstance(info, dict)
            for kind in KINDS
            if self.alias(kind) in info.get("aliases", {})
        }

    def swap_aliases(self, new: Mapping[str, str]) -> dict[str, str]:
        """Point each kind's alias at its new index in one atomic call; returns the old ones."""
        old = self.current_indices()
        actions: list[dict[str, Any]] = []
        for kind, index in new.items():
            if kind in old:
                actions.append({"remove": {"index": old[kind], "alias": self.alias(kind)}})
            actions.append({"add": {"index": index, "alias": self.alias(kind)}})
        with self._answering():
            self.client.indices.update_aliases(actions=actions)
        return {k: v for k, v in old.items() if k in new}

    def ensure_indices(self) -> dict[str, str]:
        """Create and alias the indices of kinds that have none (a first start); give existing
        ones the fields added since they were built (an upgrade adds `flag_codes`, say), so
        new documents index without `caigou index rebuild`. A field whose type changed cannot
        be altered in place: that is logged, and needs the rebuild."""
        current = self.current_indices()
        missing = [k for k in KINDS if k not in current]
        if missing:
            self.swap_aliases(self.create_indices(missing))
        for kind, index in current.items():
            properties = elastic_query.mappings(kind, smartcn=self.smartcn)["properties"]
            try:
                with self._answering():
                    self.client.indices.put_mapping(index=index, properties=properties)
            except ApiError as error:
                log.warning("%s: mapping differs from this version's (%s); run "
                            "`caigou index rebuild`", index, error.message)  # fmt: skip
        return self.current_indices()

    def drop_indices(self, names: Iterable[str]) -> None:
        names = list(names)
        if names:
            with self._answering():
                self.client.indices.delete(index=names, ignore_unavailable=True)

    def drop_all(self) -> None:
        """Every index under this prefix: for tests and `caigou index drop`."""
        with self._answering():
            found = self.client.indices.get(index=f"{self.prefix}-*", expand_wildcards="all")
        self.drop_indices(found.body)

    def refresh(self, indices: Iterable[str] | None = None) -> None:
        """Make writes searchable now (tests, the end of a rebuild) rather than within 1 s."""
        names = list(indices) if indices is not None else [self.alias(k) for k in KINDS]
        with self._answering():
            self.client.indices.refresh(index=names, ignore_unavailable=True)

    def count(self, kind: str) -> int:
        with self._answering():
            return int(self.reads.count(index=self.alias(kind))["count"])

    # writes

    def bulk(
        self,
        ops: Iterable[BulkOp | tuple[str, int, Mapping[str, Any] | None, int]],
        *,
        indices: Mapping[str, str] | None = None,
        refresh: bool = False,
    ) -> list[BulkFailure]:
        """Index or delete each op (id = pk, external version); the ops that failed.

        A 409 means the index already holds this version or a newer one: done, not failed.
        `indices` writes into a rebuild's new indices instead of the aliases.
        """
        batch = [BulkOp(*op) for op in ops]
        if not batch:
            return []
        body: list[Mapping[str, Any]] = []
        for op in batch:
            meta = {
                "_index": (indices or {}).get(op.kind) or self.alias(op.kind),
                "_id": str(op.pk),
                "version": op.version,
                "version_type": "external",
            }
            if op.document is None:
                body.append({"delete": meta})
            else:
                body += [{"index": meta}, source(op.document)]
        with self._answering():
            answer = self.client.bulk(operations=body, refresh=refresh)
        failures = []
        for op, item in zip(batch, answer["items"], strict=True):
            action, result = next(iter(item.items()))
            status = int(result.get("status", 500))
            if status < 300 or status == 409 or (action == "delete" and status == 404):
                continue
            failures.append(BulkFailure(op.kind, op.pk, status, str(result.get("error"))))
        return failures

    # reads

    def search(self, request: SearchRequest) -> SearchResult:
        """One page of hits with facets; `request.after` is the last hit's `sort` of a page.

        The first page is a plain search (most searches stop there). Paging on opens a point
        in time, carried in the cursor, so later pages see the index as it was; when the PIT
        has expired (or a rebuild dropped its index) paging goes on without it, exactly,
        since the sort ends on kind and pk.
        """
        return run_calls(self.search_calls(request), self._perform)

    async def asearch(self, request: SearchRequest) -> SearchResult:
        """`search` awaited on the running event loop (a node, or client, per loop): the same
        calls, so the same answers and errors, without a worker thread."""
        return await arun_calls(self.search_calls(request), self._aperform)

    def search_calls(self, request: SearchRequest) -> Calls[SearchResult]:
        """`search` as the HTTP calls it makes (sent, their answers sent back in): one logic
        for the blocking client and the async one."""
        kinds = [k for k in request.kinds if k in KINDS]
        if not kinds:
            return SearchResult(0, [], {})
        if self._smartcn is None:
            with self._answering():
                plugins = yield Call("GET", "/_cat/plugins", {"format": "json", "h": "component"})
            self._smartcn = any(p.get("component") == "analysis-smartcn" for p in plugins)
        size = max(1, min(request.size, MAX_SIZE))
        body: dict[str, Any] = {
            "query": elastic_query.query(request.query, request.filter, smartcn=self._smartcn),
            "sort": elastic_query.sort(request),
            "size": size,
            "track_total_hits": True,
            "_source": ["kind", "pk", "title", "text"],
            "aggs": elastic_query.aggregations(),  # every page: facets do not change as one pages
        }
        if request.keys_only:
            body.update(track_total_hits=False, _source=["kind", "pk"])
            del body["aggs"]
        after = list(request.after or ())
        pit = None
        if after and isinstance(after[-1], str) and after[-1].startswith(PIT_PREFIX):
            pit = after.pop()[len(PIT_PREFIX) :]
        if after:
            body["search_after"] = after[: len(body["sort"]) + 1]
        try:
            answer = yield from self._search(",".join(self.alias(k) for k in kinds), body, pit)
        except ApiError as exc:
            # Elasticsearch refuses sort values that do not fit the sort (a cursor of another
            # order or list): the client's cursor, not a fault of the cluster.
            if exc.meta.status != 400 or "search_after" not in body:
                raise
            raise CursorMismatch(
                "the cursor belongs to another order or backend: start again"
            ) from None
        result = self._result(request, answer)
        pit = answer.get("pit_id")
        if pit and len(result.hits) < size:
            with suppress(ApiError, TransportError):  # it expires on its own anyway
                yield Call("DELETE", "/_pit", body={"id": pit})
        return result

    def _search(
        self, index: str, body: dict[str, Any], pit: str | None
    ) -> Generator[Call, Any, dict[str, Any]]:
        sort_length = len(body["sort"])
        with self._answering():
            if pit is None and "search_after" in body and self.point_in_time:
                pit = yield from self._open_pit(index)
                # A PIT search sorts on an implicit _shard_doc last; the largest value puts
                # the previous page's last hit (unique by kind and pk) behind us.
                body["search_after"] = [*body["search_after"][:sort_length], LAST_SHARD_DOC]
            if pit is not None:
                try:
                    pit_body = {"id": pit, "keep_alive": PIT_KEEP_ALIVE}
                    found = yield self._post("/_search", {**body, "pit": pit_body})
                    return dict(found)
                except ApiError as exc:
                    if exc.meta.status not in (400, 404, 503):  # 503: its shards are gone
                        raise
            if "search_after" in body:  # expired PIT or none: without the _shard_doc value
                body["search_after"] = body["search_after"][:sort_length]
            found = yield self._post(search_path(index), body)
            return dict(found)

    def _post(self, path: str, body: dict[str, Any]) -> Call:
        """A search through the client's low-level call: the body serialised once with
        orjson, and `filter_path` so Elasticsearch sends back only what `_result` reads."""
        return Call("POST", path, {"filter_path": SEARCH_FILTER}, orjson.dumps(body))

    def _perform(self, call: Call) -> Any:
        body = call.body if call.body is None or isinstance(call.body, bytes) else orjson.dumps(
            call.body
        )  # fmt: skip
        return self.reads.perform_request(
            call.method, call.path, params=call.params, headers=JSON_HEADERS, body=body
        ).body

    async def _aperform(self, call: Call) -> Any:
        body = call.body if call.body is None or isinstance(call.body, bytes) else orjson.dumps(
            call.body
        )  # fmt: skip
        reads = self._async_reads()
        if isinstance(reads, LoopNode):
            target = f"{call.path}?{urlencode(call.params)}" if call.params else call.path
            return answer_of(await reads.perform_request(call.method, target, body, LOOP_HEADERS))
        answer = await reads.perform_request(
            call.method, call.path, params=call.params, headers=JSON_HEADERS, body=body
        )  # fmt: skip
        return answer.body

    def _async_reads(self) -> LoopNode | AsyncElasticsearch:
        """The running loop's node (plain HTTP: indexer.es_loop) or async client (https, or
        credentials in the URL), made there: its connections belong to it."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            reads: LoopNode | AsyncElasticsearch
            parts = urlsplit(self.url)
            if parts.scheme == "http" and not parts.username:  # credentials: the client's auth
                reads = LoopNode(NodeConfig(
                    "http", parts.hostname or "localhost", parts.port or 9200,
                    path_prefix=parts.path.rstrip("/"), request_timeout=self.search_timeout,
                ))  # fmt: skip
            else:
                reads = AsyncElasticsearch(
                    self.url, request_timeout=self.search_timeout, max_retries=1,
                    retry_on_status=(), serializer=OrjsonSerializer(), node_class=ASYNC_NODE,
                )  # fmt: skip
            self._async = (loop, reads)
        return self._async[1]

    async def aclose(self) -> None:
        """Close the running loop's node or async client, if it made one."""
        if self._async is not None and self._async[0] is asyncio.get_running_loop():
            reads, self._async = self._async[1], None
            await reads.close()

    def _open_pit(self, index: str) -> Generator[Call, Any, str | None]:
        try:
            found = yield Call("POST", f"/{quote(index, safe=',')}/_pit",
                               {"keep_alive": PIT_KEEP_ALIVE})  # fmt: skip
            return str(found["id"])
        except ApiError as exc:
            if exc.meta.status == 404:
                raise
            self.point_in_time = False  # this cluster has no PIT: search_after alone
            return None

    def _result(self, request: SearchRequest, answer: dict[str, Any]) -> SearchResult:
        hits = answer.get("hits", {}).get("hits", [])  # filter_path drops an empty list
        pit = answer.get("pit_id")
        terms = [] if request.keys_only else elastic_query.highlight_terms(request.query)
        out = []
        for hit in hits:
            doc = hit.get("_source", {})
            sort_values = tuple(hit["sort"]) + ((PIT_PREFIX + pit,) if pit else ())
            out.append(
                Hit(
                    kind=doc["kind"],
                    pk=int(doc["pk"]),
                    score=hit.get("_score"),
                    sort=sort_values,
                    highlights=_highlights(doc, terms) if terms else {},
                )
            )
        facets, amount = elastic_query.facets(answer.get("aggregations", {}))
        total = len(out) if request.keys_only else answer["hits"]["total"]["value"]
        return SearchResult(total, out, facets, amount)

    def health(self) -> dict[str, Any]:
        """Cluster status and each alias's document count; `unavailable` when it is down."""
        try:
            health = self.reads.cluster.health()
            counts: dict[str, int | None] = {}
            for kind in KINDS:
                try:
                    counts[kind] = self.count(kind)
                except SearchUnavailable:
                    counts[kind] = None
        except (TransportError, ApiError, SearchUnavailable) as exc:
            return {"status": "unavailable", "url": self.url, "error": str(exc)}
        return {
            "status": health["status"],
            "cluster_name": health["cluster_name"],
            "url": self.url,
            "point_in_time": self.point_in_time,
            "smartcn": self.smartcn,
            "documents": counts,
        }


def _reason(exc: TransportError) -> str:
    """Why a call failed, worded alike whichever node made it (the blocking client's and the
    loop's async one word the same refusal differently): the system's reason where there is
    one ("Connection refused"), "timed out", else the client's own text."""
    if isinstance(exc, ConnectionTimeout):
        return "timed out"
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno:
            return os.strerror(error.errno)
        pending += [e for e in (error.__cause__, error.__context__) if e is not None]
        pending += [e for e in getattr(error, "errors", ()) if isinstance(e, BaseException)]
        pending += [e for e in (getattr(error, "os_error", None),) if e is not None]
    return str(exc)


def _highlights(doc: Mapping[str, Any], terms: list[str]) -> dict[str, list[str]]:
    """Whole-word fragments of the title and of the text after it (not the title again)."""
    title, text = doc.get("title") or "", doc.get("text") or ""
    if title and text.startswith(title):
        text = text[len(title) :].lstrip("\n")
    found = {"title": highlight(title, terms), "text": highlight(text, terms)}
    return {field: fragments for field, fragments in found.items() if fragments}
