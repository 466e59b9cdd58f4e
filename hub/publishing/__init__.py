"""The publishing pipeline: validated, scoped, idempotent, all-or-nothing batches.

Framework-free: the `caigou ingest` command and the API's mutations both call `ingest_file`
or `ingest_records` and get the same checks and the same per-record results.
"""

from hub.publishing.errors import BatchRejected, FieldError, PublisherError, Refusal
from hub.publishing.ingest import IngestResult, ingest_file, ingest_records

__all__ = [
    "BatchRejected",
    "FieldError",
    "IngestResult",
    "PublisherError",
    "Refusal",
    "ingest_file",
    "ingest_records",
]
