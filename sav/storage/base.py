"""The port every attachment blob store implements."""

from __future__ import annotations

from typing import Protocol


class BlobStoreError(Exception):
    """A blob backend failed; the original error is kept as ``__cause__``."""


class BlobNotFoundError(BlobStoreError):
    """The key holds no blob."""


class BlobStore(Protocol):
    """Where attachment bytes live, addressed by a ``/``-separated key."""

    async def start(self) -> None:
        """Prepare the backend (create the bucket or directory if missing)."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing anything already there."""

    async def read(self, key: str) -> bytes:
        """Return the bytes stored under ``key``; :class:`BlobNotFoundError` if none."""

    async def exists(self, key: str) -> bool:
        """Tell whether ``key`` holds an object."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing key is not an error."""

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix`` (a folder such as
        ``tickets/{id}/``); returns how many. Used by a GDPR erasure."""

    async def presigned_url(self, key: str, expires_in: int = 3600) -> str:
        """A URL that lets anyone holding it GET ``key`` until it expires."""

    async def ping(self) -> bool:
        """Readiness: can the backend be reached right now?"""

    async def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""
