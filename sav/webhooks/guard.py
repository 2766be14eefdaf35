"""Where a webhook may be sent: the SSRF guard (docs/decisions/0120-webhooks.md).

A target must be an absolute http(s) URL (https only in production) whose host is not
`localhost` and whose addresses are all public: loopback, private, link-local (the cloud
metadata address 169.254.169.254 among them), shared, multicast, reserved and unspecified
addresses are refused, for IPv4 and IPv6 (an IPv4 address mapped or embedded in IPv6 is
judged as IPv4). The host is checked when the subscription is made, and again before
every delivery, where the connection then goes to the very address that was checked (DNS
can change between the check and the connection). `SAV_WEBHOOK_ALLOW_PRIVATE=true` lifts
the address rule (tests, internal services).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL = 2048
RESOLVE_TIMEOUT_S = 5.0


class TargetRefusedError(ValueError):
    """The URL may not be a webhook's target; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (lower case), without brackets
    port: int


def parse_target(url: str, https_only: bool) -> Target:
    """The URL's parts, or TargetRefusedError when it is not an absolute http(s) URL."""
    if len(url) > MAX_URL:
        raise TargetRefusedError(f"must be at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefusedError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefusedError("must be an absolute http or https URL")
    if https_only and parts.scheme != "https":
        raise TargetRefusedError("must be an https URL in production")
    if parts.username is not None or parts.password is not None:
        raise TargetRefusedError("must not carry a user name or password")
    if any(c.isspace() for c in url):
        raise TargetRefusedError("must not contain spaces")
    return Target(parts.scheme, parts.hostname.lower(),
                  port or (443 if parts.scheme == "https" else 80))


def literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (
            address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return is_public(embedded)
        if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64: the IPv4 inside
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not (
        address.is_multicast or address.is_private or address.is_loopback
        or address.is_link_local or address.is_reserved or address.is_unspecified)


def is_local_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost") or host.rstrip(".") in (
        "localhost", "localhost.localdomain")


def refuse_private(host: str, addresses: list[IpAddress]) -> None:
    if is_local_name(host):
        raise TargetRefusedError("must not point at localhost")
    for address in addresses:
        if not is_public(address):
            raise TargetRefusedError(
                f"resolves to {address}, which is not a public address "
                "(SAV_WEBHOOK_ALLOW_PRIVATE=true allows it)")


def resolve(host: str, port: int) -> list[IpAddress]:
    """The host's addresses; [] when it does not resolve (yet)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return _unique(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)


async def resolve_async(host: str, port: int) -> list[IpAddress]:
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
    except (OSError, UnicodeError, TimeoutError):
        return []
    return _unique(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)


def _unique(addresses: object) -> list[IpAddress]:
    found: list[IpAddress] = []
    for address in addresses:  # type: ignore[attr-defined]
        if address not in found:
            found.append(address)
    return found


def check_new_target(url: str, allow_private: bool, https_only: bool) -> Target:
    """At creation: the URL's form, and its addresses when the host resolves already
    (a name that does not resolve yet is accepted: the sender checks it each time)."""
    target = parse_target(url, https_only)
    if not allow_private:
        refuse_private(target.host, resolve(target.host, target.port))
    return target


async def connect_address(target: Target, allow_private: bool) -> IpAddress:
    """Before a delivery: the address to connect to, checked now."""
    addresses = await resolve_async(target.host, target.port)
    if not addresses:
        raise TargetRefusedError(f"{target.host} does not resolve")
    if not allow_private:
        refuse_private(target.host, addresses)
    return addresses[0]
