"""Helpers shared by the attachment tests (their fixtures: tests/integration/attachments)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx

from sav.bootstrap import Services
from tests.support.http import AGENT, CUSTOMER, Client

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(64)
S3_KEYS = {"MINIO_ACCESS_KEY": "test-access", "MINIO_SECRET_KEY": "test-secret"}
DEAD_S3 = {"MINIO_ENDPOINT": "http://127.0.0.1:9", **S3_KEYS, "MINIO_BUCKET": "sav"}
LOCAL: dict[str, str] = {}


async def upload(client: Client, ticket_id: str, name: str = "invoice.pdf", data: bytes = PDF,
                 as_: tuple[str, str] = CUSTOMER, **fields: str) -> Any:
    return await client.post(f"/tickets/{ticket_id}/attachments", as_=as_,
                             files={"file": (name, data, "application/pdf")}, data=fields)


async def fetch(client: Client, url: str) -> tuple[int, bytes, dict[str, str]]:
    """GET a download URL: local ones go through the API, S3 ones to the server."""
    parts = urlsplit(url)
    if parts.path.startswith("/files/"):
        response = await client.get(f"{parts.path}?{parts.query}")
        return response.status, response.body, response.headers
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
    return answer.status_code, answer.content, dict(answer.headers)


def stored_keys(services: Services, ticket_id: str) -> list[str]:
    settings = services.settings
    prefix = f"tickets/{ticket_id}/"
    if settings.minio_endpoint is None:
        root = settings.data_dir / "attachments"
        return sorted(str(p.relative_to(root)) for p in (root / prefix).rglob("*") if p.is_file())
    s3 = boto3.client("s3", endpoint_url=settings.minio_endpoint,
                      aws_access_key_id=settings.minio_access_key,
                      aws_secret_access_key=settings.minio_secret_key, region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=settings.minio_bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def event_count(services: Services) -> int:
    return int(services.app.recorder.max_notification_id() or 0)


async def post_message(client: Client, ticket_id: str, as_: tuple[str, str] = AGENT,
                       internal: bool = False) -> str:
    response = await client.post(f"/tickets/{ticket_id}/messages", as_=as_,
                                 json={"content": "See attached", "is_internal": internal})
    assert response.status == 201, response
    return str(response.json["id"])
