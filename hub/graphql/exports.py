"""`exports`: the catalogue of published daily dumps, as `/downloads/` lists it."""

from __future__ import annotations

from datetime import date

import strawberry

from exports.storage import open_store
from hub.downloads import list_files
from hub.graphql.common import Info


@strawberry.type(description="A published file of the daily open-data dumps.")
class ExportFile:
    date: date = strawberry.field(description="The day it covers (Beijing time).")
    entity: str = strawberry.field(description="notices, transactions, parties …")
    format: str = strawberry.field(description="parquet, csv or ocds.")
    path: str = strawberry.field(description="Path under the export root.")
    url: str = strawberry.field(description="Where to download it from this hub.")
    rows: int = strawberry.field(description="Rows (records) in it.")
    bytes: int = strawberry.field(description="Its size.")
    sha256: str = strawberry.field(description="Its SHA-256, also the download's ETag.")


def list_exports(
    info: Info, start: date | None, end: date | None, entity: str | None
) -> list[ExportFile]:
    store = open_store(info.context.request.app.state.export_root)
    found = []
    for day, f in list_files(store, start, end, entity):
        values = {**f.__dict__, "date": date.fromisoformat(day), "url": f"/downloads/{f.path}"}
        found.append(ExportFile(**values))
    return found
