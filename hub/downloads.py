"""`/downloads/`: the published dumps, listed for people (HTML) and programs (JSON), and served.

Only what a manifest lists is served (plus the top-level catalogue files), so a day being
written, a staging folder or anything else under the export root is never reachable. Files
carry their SHA-256 as a strong ETag, Last-Modified and byte ranges (resumable downloads).
"""

from __future__ import annotations

import html
import os
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from exports.manifest import FileEntry, Manifest, manifest_path, published_days, read_manifest
from exports.storage import Store, open_store

TOP_LEVEL = ("catalog.json", "datapackage.json")
SNIPPETS = {
    "DuckDB": "SELECT * FROM read_parquet('transactions/date=2024-03-*/*.parquet', "
    "hive_partitioning = true);",
    "pandas": "pandas.read_parquet('transactions/date=2024-03-01/transactions.parquet')",
    "R": "arrow::read_parquet('transactions/date=2024-03-01/transactions.parquet')",
}


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
        return HTMLResponse(_page(files))

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


def _page(files: list[tuple[str, FileEntry]]) -> str:
    """A plain page: readable without JavaScript, one table per day."""
    out = [
        "<!doctype html><html lang='zh-CN'><meta charset='utf-8'>",
        "<title>开放数据 Open data · caigou-hub</title>",
        "<h1>开放数据 Open data</h1>",
        "<p>每日数据包：Parquet（zstd）、CSV（UTF-8 BOM，可直接用 Excel 打开）、OCDS。"
        " <a href='/downloads/catalog.json'>catalog.json</a> ·"
        " <a href='/downloads/datapackage.json'>datapackage.json</a>（数据字典 data dictionary）"
        " · <a href='/downloads/?format=json'>JSON</a></p>",
        "<h2>读取 Reading</h2><dl>",
    ]
    for tool, code in SNIPPETS.items():
        out.append(f"<dt>{tool}</dt><dd><code>{html.escape(code)}</code></dd>")
    out.append("</dl>")
    current = None
    for day, entry in files:
        if day != current:
            if current is not None:
                out.append("</tbody></table>")
            current = day
            out.append(
                f"<h2>{day}</h2><table><thead><tr><th scope='col'>文件 file</th>"
                "<th scope='col'>实体 entity</th><th scope='col'>行数 rows</th>"
                "<th scope='col'>字节 bytes</th><th scope='col'>SHA-256</th></tr></thead><tbody>"
            )
        link = html.escape(entry.path)
        out.append(
            f"<tr><td><a href='/downloads/{link}'>{link}</a></td><td>{entry.entity}</td>"
            f"<td>{entry.rows:,}</td><td>{entry.bytes:,}</td><td><code>{entry.sha256}</code></td></tr>"
        )
    if current is None:
        out.append("<p>尚无已发布的数据 No day published yet: run <code>caigou export</code>.</p>")
    else:
        out.append("</tbody></table>")
    return "\n".join(out)
