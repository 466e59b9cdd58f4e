"""`/downloads/`: the published dumps, listed for people (HTML) and programs (JSON), and served.

Stable addresses for the newest state: `/downloads/current/<fmt>/<entity>.<fmt>` and
`/downloads/history/<fmt>/<entity>.<fmt>` serve `<fmt>/current/…` and `<fmt>/history/…`;
`/downloads/latest/…` redirects (308) to `/downloads/current/…`, the name people look for.

Only what a manifest (or manifests/current.json) lists is served (plus the top-level
catalogue files), so a day being
written, a staging folder or anything else under the export root is never reachable, and no
symbolic link under the root is followed. Files carry their SHA-256 as a strong ETag,
Last-Modified and byte ranges (resumable downloads), per RFC 9110: an unparsable Range is
ignored (200), an unsatisfiable one is 416, If-None-Match compares weakly, If-Range strongly.
"""

from __future__ import annotations

import calendar
import os
import re
import stat
from datetime import date
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from exports.asof import COMPILED_ENTITIES
from exports.catalog import entity_keyed, table_schema
from exports.licence import Licence
from exports.manifest import (
    DERIVED,
    Derived,
    FileEntry,
    Manifest,
    manifest_path,
    published_days,
    read_derived,
    read_manifest,
)
from exports.partitions import RECORDS, STATE_ENTITIES
from exports.storage import Store, open_store
from exports.versions import history_schema
from hub.web.render import render

TOP_LEVEL = ("catalog.json", "datapackage.json")
MANIFEST = re.compile(r"manifests/date=\d{4}-\d{2}-\d{2}\.json")
RANGE = re.compile(r"(\d{1,19})-(\d{0,19})|-(\d{1,19})")  # longer numbers: unparsable, ignored
MAX_RANGES = 100


TREES = ("current", "history")  # /downloads/<tree>/<fmt>/<entity>.<fmt> → <fmt>/<tree>/…


def snippets() -> dict[str, str]:
    """Copy-paste readers, run from the export root (or a mirror of it); tests run them."""
    return {
        "DuckDB": "SELECT count(*), sum(amount) FROM read_parquet("
        "'parquet/transactions/*/*.parquet', hive_partitioning = true);\n"
        "SELECT count(*), sum(amount) FROM 'parquet/current/awards.parquet';",
        "pyarrow": "import pyarrow.dataset as ds\n"
        "transactions = ds.dataset('parquet/transactions', partitioning='hive').to_table()\n"
        "awards = ds.dataset('parquet/current/awards.parquet').to_table()",
        "pandas": "import pandas as pd\n"
        "transactions = pd.read_parquet('parquet/transactions')\n"
        "awards = pd.read_parquet('parquet/current/awards.parquet')\n"
        "awards_csv = pd.read_csv('csv/current/awards.csv', encoding='utf-8-sig', dtype=str)",
        "R (arrow; untested: Debian has no r-cran-arrow)": "library(arrow)\n"
        "transactions <- open_dataset('parquet/transactions')  # date=… folders: hive\n"
        "awards <- read_parquet('parquet/current/awards.parquet')",
    }


def dictionary() -> list[tuple[str, list[dict[str, Any]]]]:
    """The data dictionary of every exported entity, as datapackage.json describes it."""
    described = [(e, table_schema(e, keyed=True)["fields"]) for e in RECORDS]
    described += [(e, table_schema(e, keyed=False, schema=history_schema(e))["fields"])
                  for e in COMPILED_ENTITIES]  # fmt: skip
    described += [(e, table_schema(e, keyed=entity_keyed(e, "current"))["fields"])
                  for e in STATE_ENTITIES if e not in RECORDS]  # fmt: skip
    return described


def stable_path(relative: str) -> str | None:
    """`current/parquet/awards.parquet` → `parquet/current/awards.parquet`; else None."""
    parts = relative.split("/")
    if len(parts) == 3 and parts[0] in TREES:
        return f"{parts[1]}/{parts[0]}/{parts[2]}"
    return None


def url_of(entry: FileEntry) -> str:
    """The address a file is listed under: stable ones for current/ and history/."""
    fmt, tree, name = ([*entry.path.split("/"), "", ""])[:3]
    if tree in TREES and name:
        return f"/downloads/{tree}/{fmt}/{name}"
    return f"/downloads/{entry.path}"


_DERIVED: dict[tuple[str, float], Derived | None] = {}


def derived(store: Store) -> Derived | None:
    """manifests/current.json, re-read when it changes (after each export)."""
    if store.local and not _plain_file(store, DERIVED):
        return None
    key = (store.base, _mtime(store, DERIVED))
    if key not in _DERIVED:
        _DERIVED.clear()
        _DERIVED[key] = read_derived(store)
    return _DERIVED[key]


def _manifests(store: Store, start: date | None = None, end: date | None = None) -> list[Any]:
    days = [d for d in published_days(store) if (start is None or d >= start)]
    days = [d for d in days if end is None or d <= end]
    return [m for m in (_manifest(store, d) for d in reversed(days)) if m is not None]


_MANIFESTS: dict[tuple[str, date, float], Manifest | None] = {}


def _manifest(store: Store, day: date) -> Manifest | None:
    """Manifests never change once written; the file's time only guards a forced re-export."""
    if store.local and not _plain_file(store, manifest_path(day)):
        return None
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


def _plain_file(store: Store, relative: str) -> bool:
    """A regular file reached from the export root without following any symbolic link."""
    path = Path(store.base)
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return False
    for index, part in enumerate(parts):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return False
        if stat.S_ISLNK(mode) or (index < len(parts) - 1 and not stat.S_ISDIR(mode)):
            return False
    return stat.S_ISREG(mode)


MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _served(store: Store, relative: str) -> FileEntry | bool | None:
    """The manifest entry of a file that may be served, True for catalogue files, else None."""
    if relative in TOP_LEVEL or MANIFEST.fullmatch(relative) or relative == DERIVED:
        return True
    parts = relative.split("/")
    if len(parts) == 3 and parts[1] in TREES:
        listed = derived(store)
        return next((f for f in listed.files if f.path == relative), None) if listed else None
    for part in relative.split("/"):
        if part.startswith(("date=", "month=")):
            try:
                day = _listed_on(part)
            except ValueError:
                return None
            manifest = _manifest(store, day)
            if manifest is None:
                return None
            return next((f for f in manifest.files if f.path == relative), None)
    return None


def _listed_on(part: str) -> date:
    """The day whose manifest lists a file: its `date=` folder, or for a month's Excel
    workbook (`month=YYYY-MM`) the month's last day, whose export writes it."""
    if part.startswith("date="):
        return date.fromisoformat(part[5:])
    first = date.fromisoformat(part[6:] + "-01")
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def _not_modified(request: Request, etag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110 §13.1.2): `W/"x"` matches `"x"`."""
    match = request.headers.get("if-none-match", "")
    return match.strip() == "*" or _opaque(etag) in {_opaque(v) for v in match.split(",")}


def byte_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The [start, end) ranges a `Range` asks for; None when it is to be ignored.

    RFC 9110 §14.2: a Range in another unit, or one that does not parse, is ignored and the
    whole file sent; [] means it parses but nothing in it is satisfiable (416).
    """
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    parts = [p.strip() for p in specs.split(",") if p.strip()]
    if not parts or len(parts) > MAX_RANGES:
        return None
    found: list[tuple[int, int]] = []
    for part in parts:
        match = RANGE.fullmatch(part)
        if match is None:
            return None
        first, last, suffix = match.groups()
        if suffix is not None:
            if int(suffix) > 0 and size > 0:
                found.append((max(size - int(suffix), 0), size))
        elif last and int(last) < int(first):
            return None
        elif int(first) < size:
            found.append((int(first), min(int(last) + 1, size) if last else size))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class Download(FileResponse):
    """starlette's FileResponse with RFC 9110 range handling: bad ranges ignored, not 400."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = Headers(scope=scope).get("range")
        if asked is not None and byte_ranges(asked, os.stat(self.path).st_size) is None:
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"range"]}
        await super().__call__(scope, receive, send)

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        ranges = byte_ranges(http_range, file_size)
        if ranges is None:
            raise MalformedRangeHeader()  # not reached: __call__ drops such a header
        if not ranges:
            raise RangeNotSatisfiable(file_size)
        return ranges


def routes(export_root: str, licence: Licence | None = None) -> list[Route]:
    store = open_store(export_root)
    terms = licence or Licence()

    # `index` and `file` read the store (manifests, listings, stat calls; a bucket over the
    # network): plain functions, so Starlette runs them in its thread pool, off the loop.
    def index(request: Request) -> Response:
        files = list_files(store)
        newest = derived(store)
        whole = [e for e in newest.files] if newest else []
        wants_json = request.query_params.get("format") == "json" or (
            "application/json" in request.headers.get("accept", "")
            and "text/html" not in request.headers.get("accept", "")
        )
        if wants_json:
            days: dict[str, list[dict[str, Any]]] = {}
            for day, entry in files:
                listed = {**entry.__dict__, "url": f"/downloads/{entry.path}"}
                days.setdefault(day, []).append(listed)
            listing = [{"date": d, "files": f} for d, f in days.items()]
            trees = {
                tree: {
                    "as_of": newest.as_of if newest else None,
                    "files": [
                        {**e.__dict__, "url": url_of(e)}
                        for e in whole
                        if e.path.split("/")[1] == tree
                    ],
                }
                for tree in TREES
            }
            return JSONResponse({**terms.as_json(), **trees, "days": listing})
        return _page(files, newest, terms)

    async def latest(request: Request) -> Response:
        """`/downloads/latest/…`: the name people look for, kept at `/downloads/current/…`."""
        target = f"/downloads/current/{request.path_params['path']}"
        return RedirectResponse(target, status_code=308)

    async def policy(request: Request) -> Response:
        """The publication policy the OCDS packages' `publicationPolicy` points at."""
        return render("downloads_policy.html", licence=terms)

    def file(request: Request) -> Response:
        relative = request.path_params["path"]
        relative = stable_path(relative) or relative
        served = _served(store, relative)
        if served is None or not store.local or not _plain_file(store, relative):
            detail = "not a published file" if store.local else "served from the bucket itself"
            return JSONResponse({"error": detail, "path": relative}, status_code=404)
        path = store.path(relative)
        stable = relative.split("/")[1] in TREES if relative.count("/") == 2 else False
        if isinstance(served, FileEntry) and os.stat(path).st_size != served.bytes:
            # current/ or history/ being replaced (moved in before their listing): never
            # label new bytes with the old file's tag.
            return JSONResponse({"error": "being replaced; try again", "path": relative},
                                status_code=503, headers={"retry-after": "5"})  # fmt: skip
        etag = f'"{served.sha256}"' if isinstance(served, FileEntry) else _stat_tag(path)
        # A day's files never change; current/ and history/ change with every export, and
        # the catalogue files with every new day: those are revalidated (ETag) each time.
        headers = {"etag": etag, "cache-control": "no-cache"}
        if isinstance(served, FileEntry) and not stable:
            headers["cache-control"] = "public, max-age=86400"
        if _not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        media = MEDIA.get(relative.rsplit(".", 1)[-1])
        name = os.path.basename(path)
        return Download(path, headers=headers, media_type=media, filename=name)

    return [
        Route("/downloads/", index),
        Route("/downloads/policy", policy),
        Route("/downloads/latest/{path:path}", latest),
        Route("/downloads/{path:path}", file),
    ]


def _stat_tag(path: str) -> str:
    """A catalogue file's tag from its size and time: it is rewritten whole with each day."""
    info = os.stat(path)
    return f'"{info.st_mtime_ns:x}-{info.st_size:x}"'


def _page(
    files: list[tuple[str, FileEntry]], newest: Derived | None, licence: Licence
) -> HTMLResponse:
    """A plain page: readable without JavaScript, current/ and history/ first, then one
    table per day and tree (parquet/, csv/, ocds/), then the dictionary."""
    days: dict[str, dict[str, list[FileEntry]]] = {}
    for day, entry in files:
        days.setdefault(day, {}).setdefault(entry.path.split("/")[0], []).append(entry)
    whole = [(url_of(e), e) for e in newest.files] if newest else []
    return render("downloads.html", days=days, whole=whole, as_of=newest.as_of if newest
                  else None, snippets=snippets(), dictionary=dictionary(),
                  licence=licence)  # fmt: skip
