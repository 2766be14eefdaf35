"""The attachment store's lifecycle in a running process.

A backend that is down does not stop the API: readiness reports it, and a later
request tries again (at most every few seconds, so requests meanwhile fail fast with
503 instead of hanging).
"""

from __future__ import annotations

import asyncio
import logging
import time

from sav.storage.base import BlobStore, BlobStoreError
from sav.storage.scanner import NoScanner, Scanner

log = logging.getLogger("sav.storage")
PROBE_TIMEOUT_S = 3.0
RETRY_S = 5.0


class Storage:
    """The blob store and the virus scanner every upload passes first."""

    def __init__(self, blobs: BlobStore, scanner: Scanner | None = None) -> None:
        self.blobs = blobs
        self.scanner: Scanner = scanner or NoScanner()
        self._started = False
        self._retry_at = 0.0
        self._lock = asyncio.Lock()

    async def start(self) -> bool:
        if self._started:
            return True
        async with self._lock:  # concurrent first requests start it once
            if not self._started:
                if time.monotonic() < self._retry_at:
                    return False
                try:
                    await self.blobs.start()
                except BlobStoreError as error:
                    self._retry_at = time.monotonic() + RETRY_S
                    log.warning("attachment storage unavailable: %s", error)
                    return False
                self._started = True
        return True

    async def get(self) -> BlobStore:
        """The started blob store, or BlobStoreError (503) if it cannot be reached."""
        if not await self.start():
            raise BlobStoreError("attachment storage is unavailable")
        return self.blobs

    async def ready(self) -> bool:
        """Readiness probe; bounded, as probes give up after a few seconds."""
        try:
            started = await asyncio.wait_for(self.start(), PROBE_TIMEOUT_S)
        except TimeoutError:
            return False
        return started and await self.blobs.ping()

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self.blobs.close()
