"""Standard Webhooks signatures (standardwebhooks.com): the secret is `whsec_` followed by
the base64 of its key bytes; a message is signed as HMAC-SHA256(key, "{id}.{timestamp}.
{body}") and sent as `webhook-signature: v1,<base64 of the digest>` (several,
space-separated, while a rotated secret's predecessor still signs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
KEY_BYTES = 32  # the specification asks for 24 to 64


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes
            ) -> dict[str, str]:
    """The headers of one attempt (the timestamp is the attempt's, the id the event's).
    One signature per secret, space-separated (during a rotation's grace period: the new
    secret's first, then the old one's), as the specification allows."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, message_id, timestamp, body)
                                      for secret in secrets),
        "user-agent": "sav-webhooks",
    }
