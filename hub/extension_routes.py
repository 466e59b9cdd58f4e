"""`/downloads/extensions/<name>/…`: the hub's own OCDS extension, where its packages say it is.

Every OCDS package the hub publishes declares `<public url>/downloads/extensions/caigou/
extension.json` in `extensions` (exports/ocds_schema.py), so a validator (the OCDS Data
Review Tool, libcoveocds) fetches the extension's metadata, release schema patch and
codelists from here. Only the files of the extension folder shipped in the repository are
served, never anything else; they change only with a new version of the hub.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from exports.ocds_schema import EXTENSIONS

MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}


def _files() -> dict[str, Path]:
    """`<name>/<path in the folder>` → file, for the extensions the hub serves itself."""
    found: dict[str, Path] = {}
    for extension in EXTENSIONS:
        if extension.url is None:
            for path in sorted(extension.folder.rglob("*")):
                if path.is_file() and path.suffix.lstrip(".") in MEDIA:
                    inside = path.relative_to(extension.folder).as_posix()
                    found[f"{extension.name}/{inside}"] = path
    return found


def extension_routes() -> list[Route]:
    """Mount before hub.downloads' routes: its `/downloads/{path}` would take these too."""
    files = _files()

    def serve(request: Request) -> Response:  # reads a file: in Starlette's thread pool
        relative = request.path_params["path"]
        path = files.get(relative)
        if path is None:
            return JSONResponse(
                {"error": "not a file of the hub's OCDS extensions", "path": relative},
                status_code=404,
            )
        body = path.read_bytes()
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        headers = {
            "etag": etag,
            "cache-control": "public, max-age=3600",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=MEDIA[path.suffix.lstrip(".")], headers=headers)

    return [Route("/downloads/extensions/{path:path}", serve)]
