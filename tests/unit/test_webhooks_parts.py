"""The pure parts of outbound webhooks: Standard Webhooks signatures (checked by a
verifier written from the specification), the SSRF guard's address rules, the retry
schedule."""

from __future__ import annotations

import base64
import ipaddress
import itertools

import pytest

from sav.webhooks import signing
from sav.webhooks.guard import (
    TargetRefusedError,
    check_new_target,
    is_public,
    parse_target,
    refuse_private,
)
from sav.webhooks.schedule import LONGEST_WAIT_S, next_attempt, retry_delay
from tests.support.webhook_receiver import InvalidSignatureError, verify_standard_webhook


def test_a_new_secret_is_whsec_and_base64_of_at_least_24_random_bytes() -> None:
    secrets = {signing.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24


def test_signed_headers_pass_an_independent_verifier_and_a_changed_byte_fails_it() -> None:
    secret = signing.new_secret()
    body = b'{"event":"ticket.created","data":{"ticket_id":"t-1"}}'
    headers = signing.headers([secret], "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1_700_000_000,
                              body)
    assert headers["webhook-id"] == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"].startswith("v1,")
    verify_standard_webhook(secret, headers, body, now=1_700_000_010)
    with pytest.raises(InvalidSignatureError):
        verify_standard_webhook(secret, headers, body + b" ", now=1_700_000_010)
    with pytest.raises(InvalidSignatureError):
        verify_standard_webhook(signing.new_secret(), headers, body, now=1_700_000_010)
    with pytest.raises(InvalidSignatureError):  # a replay, long after
        verify_standard_webhook(secret, headers, body, now=1_700_009_999)


def test_during_a_rotation_either_secret_verifies_and_no_other() -> None:
    """Two signatures, space-separated (the specification's form for key rotation): a
    receiver holding the new secret or still the old one accepts the delivery."""
    new, old = signing.new_secret(), signing.new_secret()
    body = b'{"event":"ticket.created"}'
    headers = signing.headers([new, old], "msg_1", 1_700_000_000, body)
    first, second = headers["webhook-signature"].split(" ")
    assert first == signing.signature(new, "msg_1", 1_700_000_000, body)
    assert second == signing.signature(old, "msg_1", 1_700_000_000, body)
    for secret in (new, old):
        verify_standard_webhook(secret, headers, body, now=1_700_000_000)
    with pytest.raises(InvalidSignatureError):
        verify_standard_webhook(signing.new_secret(), headers, body, now=1_700_000_000)


def test_the_specification_example_signature() -> None:
    """The example of standard-webhooks/spec/standard-webhooks.md."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signing.signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
    "100.64.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1",
    "fc00::1", "fd12::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1",
    "2002:7f00:1::", "ff02::1"])
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(TargetRefusedError):
        check_new_target(f"http://{address if ':' not in address else f'[{address}]'}/h",
                         allow_private=False, https_only=False)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
    refuse_private("example.com", [ipaddress.ip_address(address)])


def test_localhost_is_refused_by_name_and_allowed_with_the_flag() -> None:
    for url in ("http://localhost:8080/h", "http://LOCALHOST/h", "http://api.localhost/h"):
        with pytest.raises(TargetRefusedError, match="localhost"):
            check_new_target(url, allow_private=False, https_only=False)
        check_new_target(url, allow_private=True, https_only=False)
    check_new_target("http://127.0.0.1:9/h", allow_private=True, https_only=False)


def test_a_name_that_does_not_resolve_yet_is_accepted_at_creation() -> None:
    check_new_target("https://no-such-host.invalid/h", allow_private=False, https_only=True)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "/relative", "example.com/h",
                                 "http://", "https://user:pw@example.com/h",
                                 "http://exa mple.com/", "http://example.com:99999/"])
def test_only_absolute_http_urls(url: str) -> None:
    with pytest.raises(TargetRefusedError):
        parse_target(url, https_only=False)


def test_production_accepts_only_https() -> None:
    with pytest.raises(TargetRefusedError, match="https"):
        parse_target("http://example.com/h", https_only=True)
    assert parse_target("https://example.com/h", https_only=True).port == 443


def test_retries_start_within_ten_seconds_and_grow_to_hours_with_jitter() -> None:
    lowest = [retry_delay(n, jitter=lambda low, high: low) for n in range(1, 12)]
    highest = [retry_delay(n, jitter=lambda low, high: high) for n in range(1, 12)]
    assert highest[0] <= 10 and lowest[0] > 0
    assert all(b >= a for a, b in itertools.pairwise(highest))
    assert highest[6] >= 3600 and highest[-1] == LONGEST_WAIT_S
    assert len({retry_delay(3) for _ in range(20)}) > 1  # jittered


def test_a_delivery_is_retried_for_three_days_then_given_up() -> None:
    created, now, attempts = 0.0, 0.0, 0
    while True:
        attempts += 1
        at = next_attempt(now, created, attempts)
        if at is None:
            break
        now = at
    assert 2.5 * 86400 < now <= 3 * 86400
    assert 10 <= attempts <= 30
