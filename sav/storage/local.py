"""Attachments on local disk, for the zero-config profile.

Downloads go through the API's ``GET /files/<key>`` route, which checks the
HMAC-signed, expiring query string produced by :meth:`presigned_url`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import quote, urlencode

from sav.storage.base import BlobNotFoundError, BlobStoreError

_P = ParamSpec("_P")
_T = TypeVar("_T")


class LocalBlobStore:
    """Blobs as files under ``root``, one file per key."""

    def __init__(self, root: Path, base_url: str, secret: bytes) -> None:
        self._root = root
        self._base_url = base_url.rstrip("/")
        self._secret = secret

    async def start(self) -> None:
        await _in_thread(
            "create the storage directory", self._root.mkdir, parents=True, exist_ok=True
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await _in_thread(f"write {key!r}", _write_atomically, self.path_for(key), data)

    async def read(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise BlobNotFoundError(f"no blob at {key!r}") from exc
        except OSError as exc:
            raise BlobStoreError(f"could not read {key!r}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        return await _in_thread(f"check {key!r}", self.path_for(key).is_file)

    async def delete(self, key: str) -> None:
        await _in_thread(f"delete {key!r}", self._delete, self.path_for(key))

    async def delete_prefix(self, prefix: str) -> int:
        folder = self.path_for(prefix.rstrip("/"))
        return await _in_thread(f"delete {prefix!r}*", self._delete_tree, folder)

    async def presigned_url(self, key: str, expires_in: int = 3600) -> str:
        self.path_for(key)
        expires = str(int(time.time()) + expires_in)
        query = urlencode({"expires": expires, "signature": self._sign(key, expires)})
        return f"{self._base_url}/files/{quote(key, safe='/')}?{query}"

    async def ping(self) -> bool:
        return self._root.is_dir() and os.access(self._root, os.W_OK | os.X_OK)

    async def close(self) -> None:
        """Nothing to release: every operation opens and closes its own file."""

    def verify_signed(
        self, key: str, expires: str, signature: str, now: float | None = None
    ) -> bool:
        """Whether ``signature`` was issued by :meth:`presigned_url` and is unexpired."""
        if not (expires.isascii() and expires.isdigit()):
            return False
        if int(expires) < (time.time() if now is None else now):
            return False
        expected = self._sign(key, expires).encode("ascii")
        return hmac.compare_digest(expected, signature.encode("utf-8"))

    def path_for(self, key: str) -> Path:
        """The file holding ``key``; raises :class:`BlobStoreError` if the key
        could name anything outside the root (``..``, absolute, backslashes)."""
        parts = key.split("/")
        if not key or "\\" in key or "\x00" in key or any(p in {"", ".", ".."} for p in parts):
            raise BlobStoreError(f"invalid blob key {key!r}")
        path = self._root.joinpath(*parts)
        # Catches a symlink inside the root that points elsewhere.
        if not path.resolve().is_relative_to(self._root.resolve()):
            raise BlobStoreError(f"blob key {key!r} escapes the storage root")
        return path

    def _sign(self, key: str, expires: str) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _delete_tree(self, folder: Path) -> int:
        if not folder.is_dir():
            return 0
        files = [path for path in folder.rglob("*") if path.is_file()]
        shutil.rmtree(folder)
        _prune_empty_parents(folder.parent, stop_at=self._root)
        return len(files)

    def _delete(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _prune_empty_parents(path.parent, stop_at=self._root)


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader (or a crash) never sees a half-written file: write a sibling
    # temp file, fsync it, then rename over the target in one step.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _prune_empty_parents(directory: Path, stop_at: Path) -> None:
    # Keys nest as tickets/{ticket}/{attachment}/name: without pruning, every
    # deleted attachment would leave two empty directories behind.
    while directory != stop_at and directory.is_relative_to(stop_at):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


async def _in_thread(
    action: str, func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    # Disk I/O on 10 MiB files would stall the event loop; run it off-loop
    # and report any OS error as the store's own error.
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    except OSError as exc:
        raise BlobStoreError(f"could not {action}: {exc}") from exc
