"""A day's manifest: what was published, how much, its checksums and the data version.

A day is published when, and only when, its manifest exists: it is written last.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from exports.storage import Store


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the export root, with forward slashes
    entity: str
    format: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    date: str  # YYYY-MM-DD, the Beijing calendar day
    schema_version: str
    watermark: dict[str, Any]  # {ingestion_id, published_at}: the data version it was cut at
    generated_by: str
    files: list[FileEntry]
    # OCDS releases and records published that day, 0 on a quiet day (no package is then
    # written: OCDS requires one release or record at least); derived from `files`.
    ocds: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if self.ocds is None:
            count = {"releases": 0, "records": 0}
            for entry in self.files:
                if entry.entity == "ocds":
                    kind = "records" if entry.path.endswith("/record-package.json") else "releases"
                    count[kind] += entry.rows
            object.__setattr__(self, "ocds", count)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def to_json(self) -> builtins.bytes:  # not Manifest.bytes
        """Stable bytes: the same manifest always serialises the same way."""
        return (json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, data: builtins.bytes) -> Manifest:
        raw = json.loads(data)
        return cls(
            date=raw["date"],
            schema_version=raw["schema_version"],
            watermark=raw["watermark"],
            generated_by=raw["generated_by"],
            files=[FileEntry(**entry) for entry in raw["files"]],
            ocds=raw.get("ocds"),
        )


DERIVED = "manifests/current.json"  # history/ and current/: rebuilt, so outside any day


@dataclass(frozen=True)
class Derived:
    """What history/ and current/ hold: the day they are as of and what they were built from."""

    as_of: str  # the newest published day, YYYY-MM-DD
    built_from: str  # fingerprint of the manifests of every day up to as_of
    files: list[FileEntry]

    def to_json(self) -> builtins.bytes:
        return (json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n").encode()


def read_derived(store: Store) -> Derived | None:
    data = store.read_bytes(DERIVED)
    if data is None:
        return None
    raw = json.loads(data)
    return Derived(raw["as_of"], raw["built_from"], [FileEntry(**f) for f in raw["files"]])


def manifest_path(day: date | str) -> str:
    return f"manifests/date={day if isinstance(day, str) else day.isoformat()}.json"


def read_manifest(store: Store, day: date) -> Manifest | None:
    data = store.read_bytes(manifest_path(day))
    return None if data is None else Manifest.from_json(data)


def published_days(store: Store) -> list[date]:
    """Days with a manifest, oldest first."""
    days = []
    for name in store.list("manifests"):
        if name.startswith("date=") and name.endswith(".json"):
            days.append(date.fromisoformat(name[len("date=") : -len(".json")]))
    return sorted(days)
