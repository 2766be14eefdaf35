"""What a careful API client trips on at the HTTP edge (issue 19), on both profiles with
attachments on a real S3 server (moto): tokens by the letter, one answer for an internal
note's attachments, a bucket that disappears. Idempotency on every POST is in
test_idempotency.py, `Location` and who-before-what in test_http_conventions.py, what
only a real server shows (a client that goes away, slow clients) in
tests/e2e/test_slow_clients.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import boto3
import jwt
import pytest

from tests.support.attachments import S3_KEYS, upload
from tests.support.http import AGENT, CUSTOMER, Client, create_ticket
from tests.support.settings import JWT_SECRET


@pytest.fixture
def settings_env(request: pytest.FixtureRequest) -> dict[str, str]:
    endpoint = request.getfixturevalue("s3_endpoint")
    return {"MINIO_ENDPOINT": endpoint, **S3_KEYS, "MINIO_BUCKET": f"sav-{uuid4().hex[:12]}"}


def token(**claims: Any) -> dict[str, str]:
    body = {"sub": "cust-1", "role": "customer", "exp": int(time.time()) + 600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(body, JWT_SECRET, algorithm='HS256')}"}


@pytest.mark.parametrize("claims", [
    {"exp": "9999999999"}, {"exp": "4102444800"}, {"nbf": "1"}, {"iat": "1"},
    {"nbf": True}, {"iat": [1]}, {"exp": None},
], ids=repr)
async def test_numeric_dates_must_be_json_numbers(client: Client, claims: dict[str, Any]
                                                  ) -> None:
    """RFC 7519 NumericDate: `exp`, `nbf`, `iat` are JSON numbers; a string is a 401."""
    refused = await client.get("/tickets", headers=token(**claims))
    assert refused.status == 401, refused
    assert refused.json["error"]["code"] == "unauthorized"
    assert refused.headers["www-authenticate"] == "Bearer"


async def test_numeric_dates_as_numbers_are_accepted(client: Client) -> None:
    now = int(time.time())
    fine = await client.get("/tickets", headers=token(iat=now, nbf=now - 10.5, exp=now + 60.5))
    assert fine.status == 200, fine


async def test_attachments_of_an_internal_note_are_not_found_for_a_customer(
        client: Client) -> None:
    ticket = await create_ticket(client)
    note = await client.post(f"/tickets/{ticket['id']}/messages", as_=AGENT,
                             json={"content": "check the courier", "is_internal": True})
    assert note.status == 201, note
    attached = await upload(client, ticket["id"], as_=AGENT, message_id=note.json["id"])
    assert attached.status == 201, attached
    path = f"/tickets/{ticket['id']}/attachments/message/{note.json['id']}"
    # The note and its attachments: one answer for the customer, whichever route asks.
    assert (await client.get(f"/tickets/{ticket['id']}/messages/{note.json['id']}",
                             as_=CUSTOMER)).status == 404
    hidden = await client.get(path, as_=CUSTOMER)
    assert hidden.status == 404, hidden
    assert hidden.json["error"]["code"] == "not_found"
    staff = await client.get(path, as_=AGENT)
    assert [a["id"] for a in staff.json["data"]] == [attached.json["id"]]
    unknown = await client.get(f"/tickets/{ticket['id']}/attachments/message/{uuid4()}",
                               as_=AGENT)
    assert unknown.status == 404, unknown
    # The 64 characters the document allows are counted decoded: 30 two-byte characters
    # are 180 characters percent-encoded, still an unknown message, not too long.
    accented = quote("é" * 30)
    assert len(accented) > 64
    encoded = await client.get(f"/tickets/{ticket['id']}/attachments/message/{accented}",
                               as_=AGENT)
    assert encoded.status == 404, encoded
    too_long = await client.get(
        f"/tickets/{ticket['id']}/attachments/message/{quote('é' * 65)}", as_=AGENT)
    assert too_long.status == 422, too_long


async def test_a_lost_bucket_is_created_again(client: Client, settings_env: dict[str, str]
                                              ) -> None:
    """The S3 server lost its bucket (a reset): readiness and uploads recover by
    themselves, no operator has to create it by hand."""
    ticket = await create_ticket(client)
    assert (await upload(client, ticket["id"])).status == 201
    raw = boto3.client("s3", endpoint_url=settings_env["MINIO_ENDPOINT"],
                       aws_access_key_id=S3_KEYS["MINIO_ACCESS_KEY"],
                       aws_secret_access_key=S3_KEYS["MINIO_SECRET_KEY"],
                       region_name="us-east-1")
    bucket = settings_env["MINIO_BUCKET"]
    try:
        for item in raw.list_objects_v2(Bucket=bucket).get("Contents", []):
            raw.delete_object(Bucket=bucket, Key=item["Key"])
        raw.delete_bucket(Bucket=bucket)
        assert bucket not in {b["Name"] for b in raw.list_buckets()["Buckets"]}

        again = await upload(client, ticket["id"], "second.pdf")
        assert again.status == 201, again
        assert bucket in {b["Name"] for b in raw.list_buckets()["Buckets"]}

        raw.delete_object(Bucket=bucket, Key=again.json["file_path"])
        raw.delete_bucket(Bucket=bucket)
        status = await client.get("/status")
        assert status.status == 200, status
        assert bucket in {b["Name"] for b in raw.list_buckets()["Buckets"]}
    finally:
        raw.close()


def test_the_readme_tells_one_truth_about_the_public_rate_limit() -> None:
    """Fixed windows shared by every process (sav/api/ratelimit.py); the in-memory
    sliding window is only the fallback while the shared store fails."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    said = " ".join(readme.split())
    assert "kept in memory per API process" not in said
    assert "rate limited per client IP in fixed windows" in said
    assert "Only while that shared store fails does each process fall back" in said
