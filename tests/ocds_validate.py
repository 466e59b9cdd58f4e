"""Validate OCDS packages with libcoveocds, offline: run by the tests in `.venv-tools`.

    .venv-tools/bin/python tests/ocds_validate.py STANDARD_ZIP WORKDIR EXTENSIONS PACKAGE.json…

EXTENSIONS is a JSON object: each declared extension's `extension.json` URL → the folder
shipped in the repository (schema/data/). Prints one JSON object per package: the parts of
libcoveocds' report the tests assert on.

It runs in its own venv because libcoveocds (through flattentool) installs PyPI's `schema`,
whose name would shadow the hub's `schema/` package. Nothing goes over the network:

- the core schema comes from the standard's zip (libcoveocds' documented `standard_zip`);
- extensions are fetched by ocdsextensionregistry through its one requests session
  (`ocdsextensionregistry.util.session`); a requests transport adapter mounted on it (the
  documented requests API) answers from the shipped folders, and anything else fails as
  a network error would, so an extension not shipped shows up as failed;
- the record package schema's absolute `$ref`s are resolved by jsonref, which libcoveocds
  0.17 calls with its own loader (plain `requests.get`, no session to mount on, and no
  setting for it): `SchemaOCDS._jsonref_kwarg` is wrapped to hand jsonref a loader that reads
  the zip. That is the one patch of libcoveocds' internals; nothing else would do;
- sockets refuse to connect, so any other fetch fails the run.
"""

from __future__ import annotations

import io
import json
import re
import socket
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from libcoveocds.api import ocds_json_output
from libcoveocds.config import LibCoveOCDSConfig
from libcoveocds.schema import SchemaOCDS
from ocdsextensionregistry.util import session
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3.response import HTTPResponse

SCHEMA_URL = "https://standard.open-contracting.org/schema/1__1__5/"
RAW = re.compile(r"https://raw\.githubusercontent\.com/([^/]+/[^/]+)/([^/]+)/")
KEYS = ("version_used", "validation_errors", "additional_closed_codelist_values",
        "additional_open_codelist_values", "additional_fields", "extensions",
        "json_deref_error")  # fmt: skip


class ShippedExtensions(BaseAdapter):
    """Answers requests for the shipped extensions' files (and GitHub's zip of them)."""

    def __init__(self, folders: dict[str, Path]) -> None:
        super().__init__()
        self.files: dict[str, Path] = {}
        self.zips: dict[str, Path] = {}
        for url, folder in folders.items():
            base = url.removesuffix("extension.json")
            for path in folder.rglob("*"):
                if path.is_file():
                    self.files[base + path.relative_to(folder).as_posix()] = path
            raw = RAW.match(base)
            if raw:  # ocdsextensionregistry reads a GitHub-hosted extension as one zip
                self.zips[f"https://github.com/{raw[1]}/archive/{raw[2]}.zip"] = folder
        self.asked: list[str] = []

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        url = str(request.url)
        self.asked.append(url)
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}{unquote(parts.path)}"
        if key in self.files:
            body = self.files[key].read_bytes()
        elif key in self.zips:
            body = _zipped(self.zips[key])
        else:
            raise requests.ConnectionError(f"offline: {url} is not a shipped extension file")
        raw = HTTPResponse(
            body=io.BytesIO(body), status=200, preload_content=False, request_url=url,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(body))},
        )  # fmt: skip
        return HTTPAdapter().build_response(request, raw)

    def close(self) -> None:
        pass


def _zipped(folder: Path) -> bytes:
    """The folder as GitHub zips a repository: every file under one top-level directory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{folder.name}/", "")
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


def main(standard_zip: str, workdir: str, extensions: str, packages: list[str]) -> None:
    @cache
    def standard_file(name: str) -> Any:
        with zipfile.ZipFile(standard_zip) as archive:
            return json.loads(archive.read(f"standard-1__1__5/schema/{name}"))

    def loader(uri: str, **_: Any) -> Any:
        if not uri.startswith(SCHEMA_URL):
            raise AssertionError(f"would fetch {uri}")
        return standard_file(uri.removeprefix(SCHEMA_URL))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access during validation: {args}")

    jsonref_kwargs = SchemaOCDS._jsonref_kwarg
    SchemaOCDS._jsonref_kwarg = staticmethod(  # type: ignore[method-assign]
        lambda *, proxies=False: {**jsonref_kwargs(proxies=proxies), "loader": loader}
    )
    adapter = ShippedExtensions({url: Path(f) for url, f in json.loads(extensions).items()})
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.cache.clear()
    socket.socket.connect = refuse  # type: ignore[method-assign]
    for number, path in enumerate(packages):
        config = LibCoveOCDSConfig()
        config.config["standard_zip"] = f"file://{standard_zip}"
        config.config["context"] = "api"
        folder = Path(workdir) / str(number)
        folder.mkdir(parents=True, exist_ok=True)
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        report = ocds_json_output(str(folder), json_data=data, lib_cove_ocds_config=config)
        print(json.dumps({key: report.get(key) for key in KEYS}, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
