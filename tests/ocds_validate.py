"""Validate OCDS packages with libcoveocds, offline: run by the tests in `.venv-tools`.

    .venv-tools/bin/python tests/ocds_validate.py STANDARD_ZIP WORKDIR PACKAGE.json…

Prints one JSON object per package: the parts of libcoveocds' report the tests assert on.
It runs in its own venv because libcoveocds (through flattentool) installs PyPI's `schema`,
whose name would shadow the hub's `schema/` package. No network: sockets refuse to connect,
and the record package schema's absolute `$ref`s (which libcoveocds 0.17 fetches over HTTP
even with a standard zip) are read from the zip.
"""

from __future__ import annotations

import json
import socket
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

from libcoveocds.api import ocds_json_output
from libcoveocds.config import LibCoveOCDSConfig
from libcoveocds.schema import SchemaOCDS

SCHEMA_URL = "https://standard.open-contracting.org/schema/1__1__5/"
KEYS = ("version_used", "validation_errors", "additional_closed_codelist_values",
        "additional_open_codelist_values")  # fmt: skip


def main(standard_zip: str, workdir: str, packages: list[str]) -> None:
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
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
