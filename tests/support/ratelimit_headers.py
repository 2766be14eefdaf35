"""Reading the `RateLimit-Policy` and `RateLimit` headers as a client would: each a
structured-field list (RFC 8941) of one item, a string naming the policy, with integer
parameters (draft-ietf-httpapi-ratelimit-headers: q, w on the policy; r, t on the
limit). Strict, so a header a client library could not parse fails the test."""

from __future__ import annotations

import re
from collections.abc import Mapping

# sf-string; then `;key=integer` parameters (keys: lower-case, per RFC 8941).
ITEM = re.compile(r'"(?P<name>[\x20-\x21\x23-\x5b\x5d-\x7e]*)"'
                  r'(?P<params>(?:;[a-z*][a-z0-9_.*-]*=-?\d{1,15})*)')


def parse_item(value: str) -> tuple[str, dict[str, int]]:
    found = ITEM.fullmatch(value.strip())
    assert found, f"not a structured-field item of a string with integers: {value!r}"
    params = dict(part.split("=") for part in found["params"].split(";")[1:])
    return found["name"], {key: int(number) for key, number in params.items()}


def parse_rate_limit(headers: Mapping[str, str]) -> dict[str, int]:
    """q and w of the policy, r and t of the limit (one policy, named alike in both)."""
    lower = {key.lower(): value for key, value in headers.items()}
    policy, quota = parse_item(lower["ratelimit-policy"])
    name, limit = parse_item(lower["ratelimit"])
    assert name == policy, (policy, name)
    assert {"q", "w"} <= set(quota) and {"r", "t"} <= set(limit), (quota, limit)
    assert all(value >= 0 for value in (*quota.values(), *limit.values()))
    return {**quota, **limit}
