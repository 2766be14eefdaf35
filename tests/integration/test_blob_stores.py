"""One contract for every attachment blob store, run on S3 (moto over HTTP) and on disk."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import uuid4

import boto3
import httpx
import pytest
import pytest_asyncio

from sav.storage import (
    BlobNotFoundError,
    BlobStore,
    BlobStoreError,
    LocalBlobStore,
    S3BlobStore,
    build_blob_store,
)
from tests.support.s3server import run_moto_server

REGION = "us-east-1"
ACCESS_KEY = "test-access"
SECRET_KEY = "test-secret"
BASE_URL = "http://sav.test"
SIGNING_SECRET = b"test-signing-secret"
KEY = "tickets/5b0c/9e1f/facture été 1.pdf"
PAYLOAD = b"%PDF-1.4\nnot much of a pdf\n%%EOF\n"

Download = Callable[[str], Awaitable[bytes]]


@dataclass
class Backend:
    store: BlobStore
    download: Download
    # A second, unstarted store on the same bucket or directory (another replica).
    twin: Callable[[], BlobStore]


class DownloadRefusedError(Exception):
    """The local /files route would answer 403 for this URL."""


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with run_moto_server() as endpoint:
        yield endpoint


def s3_store(endpoint: str, bucket: str) -> S3BlobStore:
    return S3BlobStore(endpoint, ACCESS_KEY, SECRET_KEY, bucket, REGION)


def local_store(root: Path) -> LocalBlobStore:
    return LocalBlobStore(root, BASE_URL, SIGNING_SECRET)


def unique_bucket() -> str:
    return f"sav-test-{uuid4().hex[:12]}"


async def download_over_http(url: str) -> bytes:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    response.raise_for_status()
    return response.content


def serve_like_the_files_route(store: LocalBlobStore) -> Download:
    """What ``GET /files/<key:path>`` does with a URL from ``presigned_url``."""

    async def download(url: str) -> bytes:
        parts = urlsplit(url)
        key = unquote(parts.path.removeprefix("/files/"))
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if not store.verify_signed(key, query["expires"], query["signature"]):
            raise DownloadRefusedError(url)
        return store.path_for(key).read_bytes()

    return download


@pytest_asyncio.fixture(params=["s3", "local"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "s3":
        endpoint, bucket = request.getfixturevalue("s3_endpoint"), unique_bucket()
        twin: Callable[[], BlobStore] = partial(s3_store, endpoint, bucket)
        store = twin()
        download: Download = download_over_http
    else:
        root = tmp_path / "attachments"
        local = local_store(root)
        store, download, twin = local, serve_like_the_files_route(local), partial(local_store, root)
    await store.start()
    yield Backend(store, download, twin)
    await store.close()


@pytest.mark.asyncio
class TestBlobStoreContract:
    async def test_put_then_read_returns_the_same_bytes(self, backend: Backend) -> None:
        await backend.store.put(KEY, PAYLOAD, "application/pdf")
        assert await backend.store.read(KEY) == PAYLOAD

    async def test_put_replaces_an_existing_blob(self, backend: Backend) -> None:
        await backend.store.put(KEY, b"first", "text/plain")
        await backend.store.put(KEY, b"second", "text/plain")
        assert await backend.store.read(KEY) == b"second"

    async def test_exists_only_after_put(self, backend: Backend) -> None:
        assert not await backend.store.exists(KEY)
        await backend.store.put(KEY, PAYLOAD, "application/pdf")
        assert await backend.store.exists(KEY)

    async def test_delete_removes_the_blob(self, backend: Backend) -> None:
        await backend.store.put(KEY, PAYLOAD, "application/pdf")
        await backend.store.delete(KEY)
        assert not await backend.store.exists(KEY)
        with pytest.raises(BlobNotFoundError):
            await backend.store.read(KEY)

    async def test_delete_is_idempotent(self, backend: Backend) -> None:
        await backend.store.put(KEY, PAYLOAD, "application/pdf")
        await backend.store.delete(KEY)
        await backend.store.delete(KEY)
        await backend.store.delete("tickets/never/was/here.txt")

    async def test_reading_a_missing_key_raises_not_found(self, backend: Backend) -> None:
        with pytest.raises(BlobNotFoundError):
            await backend.store.read("tickets/none/none/missing.txt")

    async def test_presigned_url_downloads_the_bytes(self, backend: Backend) -> None:
        await backend.store.put(KEY, PAYLOAD, "application/pdf")
        url = await backend.store.presigned_url(KEY, expires_in=3600)
        assert await backend.download(url) == PAYLOAD

    async def test_ping_is_true_once_started(self, backend: Backend) -> None:
        assert await backend.store.ping()

    async def test_start_again_keeps_the_store_usable(self, backend: Backend) -> None:
        await backend.store.start()
        await backend.store.put(KEY, PAYLOAD, "application/pdf")
        assert await backend.store.read(KEY) == PAYLOAD

    async def test_another_replica_starts_on_the_existing_bucket(self, backend: Backend) -> None:
        await backend.store.put(KEY, PAYLOAD, "application/pdf")
        replica = backend.twin()
        await replica.start()
        try:
            assert await replica.read(KEY) == PAYLOAD
        finally:
            await replica.close()


@pytest.mark.asyncio
async def test_s3_start_creates_the_missing_bucket(s3_endpoint: str) -> None:
    bucket = unique_bucket()
    store = s3_store(s3_endpoint, bucket)
    await store.start()
    try:
        raw = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        assert bucket in {b["Name"] for b in raw.list_buckets()["Buckets"]}
        raw.close()
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_s3_upload_keeps_the_content_type(s3_endpoint: str) -> None:
    store = s3_store(s3_endpoint, unique_bucket())
    await store.start()
    try:
        await store.put(KEY, PAYLOAD, "application/pdf")
        url = await store.presigned_url(KEY)
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.headers["content-type"] == "application/pdf"
    finally:
        await store.close()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.asyncio
async def test_s3_unreachable_endpoint_raises_blob_store_error() -> None:
    store = s3_store(f"http://127.0.0.1:{closed_port()}", unique_bucket())
    with pytest.raises(BlobStoreError) as raised:
        await store.start()
    assert raised.value.__cause__ is not None
    assert not await store.ping()
    with pytest.raises(BlobStoreError):
        await store.put(KEY, PAYLOAD, "application/pdf")
    await store.close()


@pytest.mark.asyncio
async def test_local_presigned_url_is_refused_when_tampered_or_expired(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    await store.start()
    query = parse_qs(urlsplit(await store.presigned_url(KEY, expires_in=60)).query)
    expires, signature = query["expires"][0], query["signature"][0]

    assert store.verify_signed(KEY, expires, signature)
    assert not store.verify_signed(KEY, expires, signature, now=int(expires) + 1)
    assert not store.verify_signed("tickets/other/key.pdf", expires, signature)
    assert not store.verify_signed(KEY, str(int(expires) + 3600), signature)
    tampered = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert not store.verify_signed(KEY, expires, tampered)
    assert not local_store(tmp_path).verify_signed(KEY, expires, "é" * 64)
    assert not store.verify_signed(KEY, "soon", signature)
    assert not store.verify_signed(KEY, "-1", signature)


def test_local_signature_is_hmac_sha256_of_key_and_expiry(tmp_path: Path) -> None:
    # The /files route and any other verifier rely on this exact construction.
    store = local_store(tmp_path)
    expires = str(int(time.time()) + 60)
    signature = hmac.new(SIGNING_SECRET, f"{KEY}\n{expires}".encode(), hashlib.sha256).hexdigest()
    assert store.verify_signed(KEY, expires, signature)


@pytest.mark.parametrize(
    "key", ["../outside.txt", "tickets/../../outside.txt", "/etc/passwd", "a\\..\\b", "a//b", ""]
)
def test_local_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(BlobStoreError):
        local_store(tmp_path / "root").path_for(key)


@pytest.mark.asyncio
async def test_local_write_leaves_no_temp_files_and_delete_prunes_dirs(tmp_path: Path) -> None:
    root = tmp_path / "attachments"
    store = local_store(root)
    await store.start()
    await store.put(KEY, PAYLOAD, "application/pdf")
    assert [p.name for p in root.rglob("*") if p.is_file()] == ["facture été 1.pdf"]
    await store.delete(KEY)
    assert list(root.iterdir()) == []


def build_for(endpoint: str | None, data_dir: Path) -> BlobStore:
    return build_blob_store(
        minio_endpoint=endpoint,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        bucket="sav",
        region=REGION,
        data_dir=data_dir,
        base_url=BASE_URL,
        secret=SIGNING_SECRET,
    )


def test_build_blob_store_picks_s3_only_when_an_endpoint_is_set(tmp_path: Path) -> None:
    assert isinstance(build_for("http://minio:9000", tmp_path), S3BlobStore)
    local = build_for(None, tmp_path)
    assert isinstance(local, LocalBlobStore)
    assert local.path_for("k") == tmp_path / "attachments" / "k"
