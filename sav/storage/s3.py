"""Attachments in MinIO (or any S3-compatible store) through aioboto3.

A bucket that disappears while the service runs (an S3 server reset, a test MinIO
restarted without its volume) is created again as soon as a call finds it missing:
the readiness probe or the next write. What was in it is gone; nothing else waits for
an operator. The credentials need `s3:CreateBucket` for that (besides `s3:ListBucket`,
`s3:GetObject`, `s3:PutObject`, `s3:DeleteObject`); without it the store stays
unavailable (503) until the bucket is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from sav.storage.base import BlobNotFoundError, BlobStoreError

_BACKEND_ERRORS = (BotoCoreError, ClientError, aiohttp.ClientError, asyncio.TimeoutError, OSError)
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_BUCKET = "NoSuchBucket"
_PING_TIMEOUT_S = 2.0
log = logging.getLogger("sav.storage")


class S3BlobStore:
    """Blobs as objects in one bucket; one client for the store's lifetime."""

    def __init__(
        self, endpoint_url: str, access_key: str, secret_key: str, bucket: str, region: str,
        public_endpoint: str | None = None,
    ) -> None:
        self._endpoint_url = endpoint_url
        # Presigned URLs are for clients: signed for the host they reach (MINIO_PUBLIC_
        # ENDPOINT), since the host is part of the signature. Signing connects nowhere.
        self._public_endpoint = public_endpoint
        self._signer: Any = None
        self._bucket = bucket
        self._session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    async def start(self) -> None:
        if self._client is not None:
            await self._ensure_bucket()
            return
        stack = AsyncExitStack()
        try:
            with _backend_errors("connect"):
                self._client = await stack.enter_async_context(
                    self._session.client("s3", endpoint_url=self._endpoint_url, config=_config())
                )
                self._signer = self._client if not self._public_endpoint else (
                    await stack.enter_async_context(self._session.client(
                        "s3", endpoint_url=self._public_endpoint, config=_config())))
            await self._ensure_bucket()
        except BaseException:
            self._client = None
            await stack.aclose()
            raise
        self._stack = stack

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        with _backend_errors(f"put {key!r}"):
            try:
                await self._started().put_object(
                    Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)
            except ClientError as exc:
                if _error_code(exc) != _NO_BUCKET:
                    raise
                await self._recreate_bucket()
                await self._started().put_object(
                    Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    async def read(self, key: str) -> bytes:
        with _backend_errors(f"read {key!r}"):
            try:
                response = await self._started().get_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if _error_code(exc) == _NO_BUCKET:
                    await self._recreate_bucket()
                if _is_missing(exc):
                    raise BlobNotFoundError(f"no blob at {key!r}") from exc
                raise
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data

    async def exists(self, key: str) -> bool:
        with _backend_errors(f"check {key!r}"):
            try:
                await self._started().head_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if _is_missing(exc):  # HEAD has no body: a missing bucket is a plain 404
                    return False
                raise
            return True

    async def delete(self, key: str) -> None:
        # S3 answers 204 for a missing key too, which makes this idempotent.
        with _backend_errors(f"delete {key!r}"):
            try:
                await self._started().delete_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if _error_code(exc) != _NO_BUCKET:
                    raise
                await self._recreate_bucket()  # and the object is gone with the old one

    async def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        with _backend_errors(f"delete {prefix!r}*"):
            pages = self._started().get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=prefix)
            try:
                async for page in pages:
                    keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                    if keys:
                        await self._started().delete_objects(
                            Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
                        deleted += len(keys)
            except ClientError as exc:
                if _error_code(exc) != _NO_BUCKET:
                    raise
                await self._recreate_bucket()  # nothing left to delete
        return deleted

    async def presigned_url(self, key: str, expires_in: int = 3600) -> str:
        with _backend_errors(f"sign {key!r}"):
            self._started()
            url: str = await self._signer.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": key},
                ExpiresIn=expires_in,
            )
            return url

    async def ping(self) -> bool:
        # Bounded, because readiness probes give up after a second or two while
        # botocore would keep retrying a dead endpoint with backoff.
        try:
            with _backend_errors("ping"):
                await asyncio.wait_for(self._ping_or_recreate(), _PING_TIMEOUT_S)
        except BlobStoreError:
            return False
        return True

    async def _ping_or_recreate(self) -> None:
        try:
            await self._started().head_bucket(Bucket=self._bucket)
        except ClientError as exc:
            if not _is_missing(exc):
                raise
            await self._recreate_bucket()

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _recreate_bucket(self) -> None:
        log.warning("S3 bucket %r is missing: creating it again", self._bucket)
        await self._ensure_bucket()

    async def _ensure_bucket(self) -> None:
        # HEAD first, so credentials without CreateBucket work on an existing bucket.
        with _backend_errors(f"create bucket {self._bucket!r}"):
            try:
                await self._client.head_bucket(Bucket=self._bucket)
                return
            except ClientError as exc:
                if not _is_missing(exc):
                    raise
            try:
                await self._client.create_bucket(Bucket=self._bucket)
            except ClientError as exc:
                # Another replica starting at the same moment won the race.
                if _error_code(exc) != "BucketAlreadyOwnedByYou":
                    raise

    def _started(self) -> Any:
        if self._client is None:
            raise BlobStoreError("S3 blob store used before start() or after close()")
        return self._client


def _config() -> AioConfig:
    return AioConfig(
        # MinIO serves buckets by path; virtual-host names would need wildcard DNS.
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
        # botocore >= 1.36 adds CRC checksums to every upload by default, which
        # older MinIO releases and other S3 clones reject.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


@contextmanager
def _backend_errors(action: str) -> Iterator[None]:
    """Turn botocore/aiohttp failures into :class:`BlobStoreError`."""
    try:
        yield
    except BlobStoreError:
        raise
    except _BACKEND_ERRORS as exc:
        raise BlobStoreError(f"S3 could not {action}: {exc}") from exc


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_missing(exc: ClientError) -> bool:
    return _error_code(exc) in _MISSING_CODES
