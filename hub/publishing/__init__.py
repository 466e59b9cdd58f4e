"""The publishing pipeline: validated, scoped, idempotent, all-or-nothing batches.

Framework-free: the `caigou ingest` command and the API's mutations both call `ingest_file`
or `ingest_records` and get the same checks and the same per-record results.
"""

from typing import TYPE_CHECKING, Any

from hub.publishing.errors import BatchRejected, FieldError, PublisherError, Refusal

if TYPE_CHECKING:
    from hub.publishing.ingest import IngestResult, ingest_file, ingest_records

_INGEST = ("IngestResult", "ingest_file", "ingest_records")


def __getattr__(name: str) -> Any:
    """The pipeline itself (readers, compilers, the flag engine: ~0.5 s of imports) loads on
    first use: `hub.publishing.errors` or `.ingestlog` alone, as every command's start
    needs them, must not pull it in."""
    if name in _INGEST:
        from hub.publishing import ingest

        return getattr(ingest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BatchRejected",
    "FieldError",
    "IngestResult",
    "PublisherError",
    "Refusal",
    "ingest_file",
    "ingest_records",
]
