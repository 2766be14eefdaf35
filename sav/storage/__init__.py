"""Attachment blob stores: MinIO/S3 in production, local disk otherwise."""

from __future__ import annotations

from pathlib import Path

from sav.storage.base import BlobNotFoundError, BlobStore, BlobStoreError
from sav.storage.local import LocalBlobStore
from sav.storage.s3 import S3BlobStore

__all__ = [
    "BlobNotFoundError",
    "BlobStore",
    "BlobStoreError",
    "LocalBlobStore",
    "S3BlobStore",
    "build_blob_store",
]


def build_blob_store(
    *,
    minio_endpoint: str | None,
    access_key: str,
    secret_key: str,
    bucket: str,
    region: str,
    data_dir: Path,
    base_url: str,
    secret: bytes,
    public_endpoint: str | None = None,
) -> BlobStore:
    """The store the configuration asks for: S3 when an endpoint is set.

    Nothing connects here; call ``start()`` from the app's startup hook.
    """
    if minio_endpoint:
        return S3BlobStore(minio_endpoint, access_key, secret_key, bucket, region,
                           public_endpoint)
    return LocalBlobStore(data_dir / "attachments", base_url, secret)
