"""Publishing over GraphQL: the same pipeline, checks and idempotency as `caigou ingest`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any

import anyio.to_thread
import strawberry
from strawberry.scalars import JSON

from hub.graphql.common import Info
from hub.graphql.errors import BadUserInput, Forbidden
from hub.graphql.sources import RelayInput, relay_values
from hub.publishing import FieldError, PublisherError, ingest_records
from hub.publishing.readers import BadRecord
from schema.types import RecordKind

MAX_RECORDS = 10_000
Relays = Annotated[
    list[RelayInput | None] | None,
    strawberry.argument(
        description="转发: for a regional site or trading platform, each record's relay "
        "metadata, by position (null: a record it publishes itself). Typed; for large "
        "batches `relays` costs the hub less."
    ),
]
RelaysJSON = Annotated[
    JSON | None,
    strawberry.argument(
        description="转发, as one JSON list (what `caigou pusher` sends): one entry per record "
        "by position, each an object with the keys of RelayInput (originalPublisher, "
        "originalRole, sourceSite, firstPublishedAt, hops [{hub, receivedAt}]) or null for a "
        "record not relayed. Checked in bulk by the publishing pipeline, each fault named by "
        "record and field (relay.…), as `relay` is."
    ),
]


@strawberry.enum(description="What a batch holds.")
class PublishKind(Enum):
    NOTICE = "notice"
    TRANSACTION = "transaction"
    PENALTY = "penalty"


@strawberry.type(description="One fault of a refused record (a record has one per fault).")
class Refusal:
    position: int = strawberry.field(
        description="The record's place in the batch, from 1 (0: the batch)."
    )
    record_id: str | None = strawberry.field(description="The record's own id, when it has one.")
    field: str = strawberry.field(description="The field at fault (header for the batch).")
    reason: str = strawberry.field(description="What is wrong and what is expected.")


@strawberry.type(description="What happened to a batch.")
class PublishResult:
    status: str = strawberry.field(description="accepted, partial or rejected (nothing written).")
    total: int = strawberry.field(description="Records in the batch.")
    accepted: int = strawberry.field(description="Records written.")
    duplicates: int = strawberry.field(description="Records already held, unchanged.")
    rejected: int = strawberry.field(description="Records refused.")
    refusals: list[Refusal] = strawberry.field(
        description="Every fault of every refused record, each with its JSON path."
    )
    warnings: list[str] = strawberry.field(
        description="What the batch should know but refuses nothing, said once per batch "
        "(e.g. columns the hub does not read, kept in each record's payload)."
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Publish a batch as the publisher of the bearer token: OCDS releases for "
        "NOTICE, rows with the CSV column names for TRANSACTION and PENALTY. All or nothing "
        "unless `partial`."
    )
    async def publish(
        self,
        info: Info,
        kind: PublishKind,
        records: list[JSON],
        partial: bool = False,
        relay: Relays = None,
        relays: RelaysJSON = None,
    ) -> PublishResult:
        context = info.context
        publisher = context.publisher()
        if len(records) > MAX_RECORDS:
            raise BadUserInput(f"at most {MAX_RECORDS:,} records a batch; split it")
        given = _relays(relay, relays, len(records))
        # A record that is not an object is refused at its position, as an NDJSON line is;
        # every other check is the files' own (hub/publishing/cells.py).
        rows = [
            r if isinstance(r, dict) else BadRecord(FieldError("record", "not a JSON object"))
            for r in records
        ]
        try:
            # In a worker thread: a batch waits for any other batch being written (one writer
            # at a time), and the event loop must keep serving everyone else meanwhile.
            ingest = functools.partial(
                ingest_records, context.engine, publisher, RecordKind(kind.value), rows,
                partial=partial, source="graphql", relays=given, hub=_hub(info),
            )  # fmt: skip
            result = await anyio.to_thread.run_sync(ingest)
        except PublisherError as exc:
            raise Forbidden(str(exc)) from None
        refusals = [
            Refusal(position=r.position, record_id=r.record_id, field=r.field, reason=r.reason)
            for r in result.refusals
        ]
        return PublishResult(
            status=result.status, total=result.total, accepted=result.accepted,
            duplicates=result.duplicates, rejected=result.rejected, refusals=refusals,
            warnings=result.warnings,
        )  # fmt: skip


def _relays(
    relay: list[RelayInput | None] | None, relays: object, count: int
) -> list[Mapping[str, Any] | None] | None:
    """The batch's relay entries from either argument, one per record: an entry that is no
    object refuses only its record (`read_relay` names it), a list of the wrong length or
    anything but a list the batch."""
    if relay is not None and relays is not None:
        raise BadUserInput("give `relay` or `relays`, not both")
    if relays is not None:
        if not isinstance(relays, list):
            raise BadUserInput("relays: must be a JSON list, one entry per record (null for one "
                               "not relayed)")  # fmt: skip
        if len(relays) != count:
            raise BadUserInput(f"relays: {len(relays)} entries for {count} records; give one per "
                               "record (null for one not relayed)")  # fmt: skip
        return relays
    if relay is not None and len(relay) != count:
        raise BadUserInput(f"relay: {len(relay)} entries for {count} records; give one per "
                           "record (null for one not relayed)")  # fmt: skip
    return None if relay is None else [relay_values(r) for r in relay]


def _hub(info: Info) -> str | None:
    """This hub's name on relay paths: its public URL (CAIGOU_PUBLIC_URL) as served."""
    settings = getattr(info.context.request.app.state, "settings", None)
    return getattr(settings, "public_url", None)
