"""The export root on any `pyarrow.fs` filesystem: a local folder by default, or a bucket.

Files are written into a staging folder and moved into place. On a local disk every file is
fsynced before its rename and every folder after, so a power cut leaves either the old state
or the new one; an object store has no rename, and there the manifest-last rule alone makes
a day appear whole.
"""

from __future__ import annotations

import builtins
import os
import secrets
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

STAGING = ".staging"


@dataclass(frozen=True)
class Store:
    fs: pafs.FileSystem
    base: str  # the root inside `fs`, without a trailing slash

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, relative: str) -> str:
        return f"{self.base}/{relative}" if relative else self.base

    def open_output(self, relative: str) -> pa.NativeFile:
        self.fs.create_dir(self.path(relative).rsplit("/", 1)[0], recursive=True)
        return self.fs.open_output_stream(self.path(relative))

    def write_bytes(self, relative: str, data: bytes) -> None:
        with self.open_output(relative) as stream:
            stream.write(data)
        self.sync(relative)

    def read_bytes(self, relative: str) -> bytes | None:
        if not self.exists(relative):
            return None
        with self.fs.open_input_stream(self.path(relative)) as stream:
            return stream.read()

    def exists(self, relative: str) -> bool:
        return self.fs.get_file_info(self.path(relative)).type != pafs.FileType.NotFound

    def list(self, relative: str) -> list[str]:
        """Names directly inside a folder, sorted; empty when it does not exist."""
        selector = pafs.FileSelector(self.path(relative), allow_not_found=True)
        return sorted(info.base_name for info in self.fs.get_file_info(selector))

    def sync(self, relative: str) -> None:
        """Flush a file or folder to disk (local filesystems; object stores have no cache)."""
        if not self.local:
            return
        descriptor = os.open(self.path(relative), os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def move(self, source: str, target: str) -> None:
        """Replace `target` with `source` (a rename on a local disk, so atomic)."""
        folder = target.rsplit("/", 1)[0] if "/" in target else ""
        self.fs.create_dir(self.path(folder), recursive=True)
        self.fs.move(self.path(source), self.path(target))
        self.sync(folder)

    def delete(self, relative: str) -> None:
        info = self.fs.get_file_info(self.path(relative))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path(relative))
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path(relative))

    def new_staging(self, label: str) -> str:
        """A fresh staging folder `.staging/<label>-<random>`."""
        return f"{STAGING}/{label}-{secrets.token_hex(6)}"

    def clean_staging(self, label: str) -> builtins.list[str]:  # not Store.list
        """Remove what a crashed run left for `label`; says which folders went."""
        stale = [f"{STAGING}/{name}" for name in self.list(STAGING) if name.startswith(f"{label}-")]
        for folder in stale:
            self.delete(folder)
        return stale


def open_store(root: str, fs: pafs.FileSystem | None = None) -> Store:
    """The export root: a local folder, or a URL (`s3://bucket/prefix`) through pyarrow.fs."""
    if fs is not None:
        return Store(fs, root.rstrip("/"))
    if "://" in root:
        found, base = pafs.FileSystem.from_uri(root)
        return Store(found, base.rstrip("/"))
    return Store(pafs.LocalFileSystem(), os.path.abspath(root))
