"""`/downloads/`: the published dumps, listed for people (HTML) and programs (JSON), and served.

Only what a manifest lists is served (plus the top-level catalogue files), so a day being
written, a staging folder or anything else under the export root is never reachable. Files
carry their SHA-256 as a strong ETag, Last-Modified and byte ranges (resumable downloads).
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from exports.catalog import IMMUTABLE, table_schema
from exports.manifest import FileEntry, Manifest, manifest_path, published_days, read_manifest
from exports.partitions import ENTITIES as EXPORTED
from exports.storage import Store, open_store
from hub.web.render import render

TOP_LEVEL = ("catalog.json", "datapackage.json")


def snippets(day: str) -> dict[str, str]:
    """Copy-paste readers for one published day, run from the export root (or a mirror)."""
    part = f"transactions/date={day}/transactions"
    return {
        "DuckDB": f"SELECT * FROM read_parquet('transactions/date=*/*.parquet', "
        f"hive_partitioning = true);\n-- one day, CSV:\nSELECT * FROM read_csv('{part}.csv');",
        "pandas": f"import pandas as pd\ndf = pd.read_parquet('{part}.parquet')\n"
        f"df_csv = pd.read_csv('{part}.csv', encoding='utf-8-sig')",
        "R": f"library(arrow)\ndf <- read_parquet('{part}.parquet')\n"
        f"ds <- open_dataset('transactions', partitioning = hive_partition())",
    }


def dictionary() -> list[tuple[str, list[dict[str, Any]]]]:
    """The data dictionary of every exported entity, as datapackage.json describes it."""
    return [(e, table_schema(e, keyed=e in IMMUTABLE)["fields"]) for e in EXPORTED]


def _manifests(store: Store, start: date | None = None, end: date | None = None) -> list[Any]:
    days = [d for d in published_days(store) if (start is None or d >= start)]
    days = [d for d in days if end is None or d <= end]
    return [m for m in (_manifest(store, d) for d in reversed(days)) if m is not None]


_MANIFESTS: dict[tuple[str, date, float], Manifest | None] = {}


def _manifest(store: Store, day: date) -> Manifest | None:
    """Manifests never change once written; the file's time only guards a forced re-export."""
    key = (store.base, day, _mtime(store, manifest_path(day)))
    if key not in _MANIFESTS:
        if len(_MANIFESTS) > 4096:
            _MANIFESTS.clear()
        _MANIFESTS[key] = read_manifest(store, day)
    return _MANIFESTS[key]


def _mtime(store: Store, relative: str) -> float:
    info = store.fs.get_file_info(store.path(relative))
    return info.mtime.timestamp() if info.mtime else 0.0


def list_files(
    store: Store, start: date | None = None, end: date | None = None, entity: str | None = None
) -> list[tuple[str, FileEntry]]:
    """Every published file as (day, entry), newest day first."""
    return [
        (m.date, f)
        for m in _manifests(store, start, end)
        for f in m.files
        if entity is None or f.entity == entity
    ]


def _served(store: Store, relative: str) -> FileEntry | bool | None:
    """The manifest entry of a file that may be served, True for catalogue files, else None."""
    if relative in TOP_LEVEL or (relative.startswith("manifests/date=") and ".." not in relative):
        return True
    for part in relative.split("/"):
        if part.startswith("date="):
            try:
                day = date.fromisoformat(part[5:])
            except ValueError:
                return None
            manifest = _manifest(store, day)
            if manifest is None:
                return None
            return next((f for f in manifest.files if f.path == relative), None)
    return None


def _not_modified(request: Request, etag: str) -> bool:
    match = request.headers.get("if-none-match", "")
    return etag in {v.strip() for v in match.split(",")} or match.strip() == "*"


def routes(export_root: str) -> list[Route]:
    store = open_store(export_root)

    async def index(request: Request) -> Response:
        files = list_files(store)
        wants_json = request.query_params.get("format") == "json" or (
            "application/json" in request.headers.get("accept", "")
            and "text/html" not in request.headers.get("accept", "")
        )
        if wants_json:
            days: dict[str, list[dict[str, Any]]] = {}
            for day, entry in files:
                listed = {**entry.__dict__, "url": f"/downloads/{entry.path}"}
                days.setdefault(day, []).append(listed)
            return JSONResponse({"days": [{"date": d, "files": f} for d, f in days.items()]})
        return _page(files)

    async def file(request: Request) -> Response:
        relative = request.path_params["path"]
        served = _served(store, relative)
        if served is None or not store.local or not store.exists(relative):
            detail = "not a published file" if store.local else "served from the bucket itself"
            return JSONResponse({"error": detail, "path": relative}, status_code=404)
        path = store.path(relative)
        etag = f'"{served.sha256}"' if isinstance(served, FileEntry) else None
        if etag and _not_modified(request, etag):
            return Response(status_code=304, headers={"etag": etag})
        # Published files never change; the catalogue files change with every new day.
        headers = {"cache-control": "no-cache"}
        if etag:
            headers = {"etag": etag, "cache-control": "public, max-age=86400"}
        media = {"csv": "text/csv; charset=utf-8", "json": "application/json"}.get(
            relative.rsplit(".", 1)[-1]
        )
        name = os.path.basename(path)
        return FileResponse(path, headers=headers, media_type=media, filename=name)

    return [
        Route("/downloads/", index),
        Route("/downloads/{path:path}", file),
    ]


def _page(files: list[tuple[str, FileEntry]]) -> HTMLResponse:
    """A plain page: readable without JavaScript, one table per day, then the dictionary."""
    days: dict[str, list[FileEntry]] = {}
    for day, entry in files:
        days.setdefault(day, []).append(entry)
    example = next(iter(days), "2024-03-01")
    return render("downloads.html", days=days, snippets=snippets(example), dictionary=dictionary())
