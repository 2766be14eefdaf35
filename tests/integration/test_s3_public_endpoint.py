"""Presigned attachment URLs point at MINIO_PUBLIC_ENDPOINT (the host clients reach),
signed for that host, while the service talks to MINIO_ENDPOINT (an internal name)."""

from __future__ import annotations

from urllib.parse import urlsplit
from uuid import uuid4

import httpx

from sav.storage import S3BlobStore


async def test_presigned_urls_use_the_public_endpoint_and_download(s3_endpoint: str) -> None:
    internal = urlsplit(s3_endpoint)
    # Another name for the same server, as a client outside the cluster would use.
    public = f"http://localhost:{internal.port}"
    assert internal.hostname != "localhost"
    store = S3BlobStore(s3_endpoint, "test-access", "test-secret", f"pub-{uuid4().hex[:8]}",
                        "us-east-1", public_endpoint=public)
    await store.start()
    try:
        await store.put("tickets/a/b/note.txt", b"hello", "text/plain")
        url = await store.presigned_url("tickets/a/b/note.txt")
        assert url.startswith(public + "/")
        async with httpx.AsyncClient() as client:
            answer = await client.get(url)
        assert (answer.status_code, answer.content) == (200, b"hello")
    finally:
        await store.close()
