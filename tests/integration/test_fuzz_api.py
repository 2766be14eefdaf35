"""Invariant 9 under fuzzing: whatever a client sends, the answer is never a 500.

Every route (taken from `GET /openapi.json`) gets random path segments, query
strings, headers, JSON and raw bodies, multipart uploads, as every role, anonymous
and public callers. Each answer must be < 500, carry the error envelope
`{"error": {"code", "message", "details"}}` when >= 400, never leak a traceback, and
a 4xx must not have appended any event (nothing partial).
"""

from __future__ import annotations

import json as stdjson
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sav.bootstrap import Services
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client, Response, create_ticket
from tests.support.settings import JWT_SECRET

# Derandomized and unshrunk: the same examples every run, and a failure reports the
# request that failed at once instead of shrinking for minutes against a live app.
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

ROLES = [CUSTOMER, ("cust-2", "customer"), AGENT, ("agent-2", "agent"), ADMIN]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

_PARAM = re.compile(r"\{(\w+)\}")


@pytest.fixture
def settings_env() -> dict[str, str]:
    # Fuzzing the public routes must not be throttled into 429s after 30 calls.
    return {"SAV_PUBLIC_RATE_LIMIT": "100000"}


@dataclass
class World:
    """The things real refs point at; built once per test function."""

    ticket: dict[str, Any]
    message_id: str
    attachment_id: str
    public_number: str
    public_token: str
    routes: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
async def world(client: Client) -> World:
    ticket = await create_ticket(client)
    message = await client.post(f"/tickets/{ticket['id']}/messages", as_=CUSTOMER,
                                json={"content": "hello"})
    assert message.status == 201, message
    body, ctype = multipart([("file", "a.pdf", PDF)])
    upload = await client.post(f"/tickets/{ticket['id']}/attachments", as_=CUSTOMER,
                               content=body, headers={"content-type": ctype})
    assert upload.status == 201, upload
    public = await client.post("/public/tickets", json={
        "email": "anon@example.com", "subject": "s", "description": "d"})
    assert public.status == 201, public
    spec = (await client.get("/openapi.json")).json
    routes = [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]
    assert len(routes) > 20
    return World(ticket, message.json["id"], upload.json["id"],
                 public.json["ticket_number"], public.json["access_token"], sorted(routes))


# ---------------------------------------------------------------- strategies

def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "fuzzb0undary"
              ) -> tuple[bytes, str]:
    out = b""
    for name, file_name, data in parts:
        disposition = f'form-data; name="{name}"'
        if file_name is not None:
            disposition += f'; filename="{file_name}"'
        out += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n"
                ).encode("utf-8", "surrogatepass") + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


garbage_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "\x00", "null", "..", "../..", "%", "%%%", "\ud800", "é" * 70,
                     "x" * 70, "x" * 5000, "-1", "0", "1e999", "NaN", "true", "[]", "{}",
                     "' OR 1=1 --", '"', "\\", "*", "+*\"(", "<script>"]),
)
numbers = st.one_of(st.integers(), st.integers(min_value=2**63 - 2, max_value=2**80),
                    st.floats(allow_nan=True, allow_infinity=True))
leaf = st.one_of(st.none(), st.booleans(), numbers, garbage_text)
json_values = st.recursive(
    leaf, lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(garbage_text, children, max_size=5)),
    max_leaves=20)
deep = st.integers(min_value=1, max_value=1200).map(lambda n: {"nest": n})

FIELDS = ["subject", "description", "priority", "category", "source", "tags", "metadata",
          "user_id", "contact_email", "contact_name", "internal_notes", "status", "agent_id",
          "resolution", "reason", "content", "is_internal", "rating", "comment", "name",
          "email", "active"]
plausible = st.sampled_from([
    "normal", "urgent", "low", "in_progress", "waiting_customer", "closed", "agent-1",
    "agent-2", "cust-1", "a@b.co", "text", 1, 3, 5, 6, 0, True, False, ["tag"], {"k": "v"},
    "web", "email"])
field_value = st.one_of(plausible, json_values, deep,
                        st.text(min_size=1, max_size=3).map(lambda s: s * 20_000))
object_bodies = st.dictionaries(st.one_of(st.sampled_from(FIELDS), garbage_text),
                                field_value, max_size=6)


def render(value: Any) -> str:
    """JSON text the way a sloppy client writes it: big ints, NaN, deep nests kept."""
    if isinstance(value, dict) and set(value) == {"nest"} and isinstance(value["nest"], int):
        return "[" * value["nest"] + "]" * value["nest"]
    if isinstance(value, dict):
        return "{" + ",".join(f"{stdjson.dumps(str(k))}:{render(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    return stdjson.dumps(value, ensure_ascii=False)


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"   ", b"{", b"[1,2]", b"null", b"\"x\"", b"\xff\xfe\x00",
                     b'{"a":1,"a":2}', b'{"content":"x"}\x00', b"\xef\xbb\xbf{}",
                     b'{"content":"\\ud800"}']),
)
bodies = st.one_of(
    object_bodies.map(lambda v: render(v).encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: render(v).encode("utf-8", "surrogatepass")),
    raw_bodies,
)


def q(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def pct_bytes(data: bytes) -> str:
    return "".join(f"%{b:02X}" for b in data)


segments = st.one_of(
    st.uuids().map(str),
    st.integers().map(str),
    st.text(max_size=60).map(lambda s: q(s)),
    st.binary(min_size=1, max_size=20).map(pct_bytes),
    st.sampled_from(["..", "%2e%2e", "%2F", "%00", "%ff", "%ED%A0%80", "x" * 5000, "~",
                     "TICKET-19990101-001", "TICKET-99999999-999", "00000000-0000-0000-0000-"
                     "000000000000", "a%20b", "@", ";", ",", "%", "%zz", "unread-count",
                     "mark-all-read", "statistics", "multiple", "message", "download"]),
)

QUERY_KEYS = ["limit", "cursor", "status", "priority", "assigned_to", "category", "q",
              "user_id", "from", "to", "group_by", "active", "token", "message_id",
              "expires", "signature"]
query_values = st.one_of(
    garbage_text, st.integers().map(str), st.integers(2**63 - 2, 2**80).map(str),
    st.sampled_from(["0", "1", "100", "101", "20", "open,closed", "open,,", "day", "week",
                     "month", "true", "FALSE", "9999-12-31", "0001-01-01",
                     "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                     "2024-02-30", "2024-01-01T25:00", "czk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
                     "cy0x", "czE", "czA", "eA", "none"]),
    st.integers(min_value=0, max_value=2**70).map(
        lambda n: __import__("base64").urlsafe_b64encode(f"s{n}".encode()).decode()
        .rstrip("=")),
)


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(st.one_of(st.sampled_from(QUERY_KEYS), garbage_text),
                                    query_values), max_size=4))
    parts = [f"{q(k)}={q(v)}" for k, v in pairs]
    parts += draw(st.lists(st.sampled_from(["%", "%%%", "=", "&&", "limit", "a=%ff",
                                            "q=%00", "limit=%20%201"]), max_size=2))
    return ("?" + "&".join(parts)) if parts else ""


def token(claims: dict[str, Any], secret: str = JWT_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                             exclude_characters="\x7f"), max_size=200)


@st.composite
def authorizations(draw: st.DrawFn, client: Client) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["role", "role", "role", "none", "garbage", "claims"]))
    if kind == "role":
        return client.auth(*draw(st.sampled_from(ROLES)))
    if kind == "none":
        return None
    if kind == "garbage":
        return {"Authorization": draw(st.one_of(
            header_text, header_text.map(lambda t: "Bearer " + t),
            st.sampled_from(["Bearer", "Bearer ", "bearer  x", "Basic dXNlcjpwYXNz",
                             "Bearer a.b.c", "Bearer " + "x" * 9000])))}
    claims = draw(st.dictionaries(
        st.sampled_from(["sub", "role", "exp", "email", "name", "iat", "nbf", "aud"]),
        st.one_of(json_values.filter(lambda v: not _has_big_number(v)),
                  st.sampled_from(["admin", "agent", "customer", "cust-1", "x" * 65]),
                  st.just(int(time.time()) + 3600)), max_size=6))
    secret = draw(st.sampled_from([JWT_SECRET, JWT_SECRET, "another-secret-of-sufficient-len"]))
    try:
        return {"Authorization": f"Bearer {token(claims, secret)}"}
    except (TypeError, ValueError, OverflowError):
        return None


def _has_big_number(value: Any) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) >= 2**63
    if isinstance(value, dict):
        return any(_has_big_number(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_big_number(v) for v in value)
    return False


@st.composite
def extra_headers(draw: st.DrawFn) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    choices = {
        "If-Match": st.one_of(header_text, st.sampled_from(
            ['"1"', 'W/"1"', "*", "1", "0", '"999999999999999999999999"', "-1", '""',
             "\u0663"])),
        "Idempotency-Key": st.one_of(header_text, st.sampled_from(["k", "é" * 64, "x" * 128,
                                                                   "x" * 129]),
                                     st.binary(min_size=1, max_size=8).filter(
                                         lambda b: b"\r" not in b and b"\n" not in b)),
        "X-Access-Token": st.one_of(header_text, st.binary(min_size=1, max_size=8).filter(
            lambda b: b"\r" not in b and b"\n" not in b)),
        "Content-Type": st.sampled_from(["application/json", "text/plain", "",
                                         "application/json; charset=latin-1",
                                         "multipart/form-data", "application/x-www-form-"
                                         "urlencoded", "multipart/form-data; boundary="]),
        "Content-Length": st.sampled_from(["0", "-1", "abc", "99999999999999"]),
        "Accept": st.sampled_from(["text/html", "*/*", "application/xml"]),
    }
    for name in draw(st.lists(st.sampled_from(sorted(choices)), unique=True, max_size=3)):
        headers[name] = draw(choices[name])
    return headers


# ----------------------------------------------------------------- checking

def fill(template: str, world: World, draw: st.DrawFn) -> str:
    """Put a real ref or a fuzzed segment into each `{param}` of a route."""
    real = {
        "ticket_ref": [world.ticket["id"], world.ticket["ticket_number"],
                       world.public_number],
        "message_ref": [world.message_id], "message_id": [world.message_id],
        "attachment_id": [world.attachment_id], "agent_id": ["agent-1"],
        "raw_key": [f"tickets/{world.ticket['id']}/{world.attachment_id}/a.pdf"],
    }

    def one(match: re.Match[str]) -> str:
        options = real.get(match.group(1), [])
        if options and draw(st.booleans()):
            return draw(st.sampled_from(options))
        return draw(segments)

    return _PARAM.sub(one, template)


async def send(client: Client, services: Services, method: str, path: str, **kwargs: Any
               ) -> Response:
    headers = kwargs.get("headers")
    if headers:
        # Headers travel as bytes: latin-1 as-is, anything else as its UTF-8 bytes.
        kwargs["headers"] = {k: v if isinstance(v, bytes) else
                             v.encode("latin-1") if all(ord(c) < 256 for c in v) else
                             v.encode("utf-8", "surrogatepass") for k, v in headers.items()}
    if method not in ("POST", "PUT", "PATCH"):
        kwargs.pop("content", None)  # httpx sends no body with these.
    before = services.app.recorder.max_notification_id()
    response = await client.request(method, path, **kwargs)
    after = services.app.recorder.max_notification_id()
    where = f"{method} {path[:300]} -> {response!r}"
    assert response.status < 500, where
    assert b"Traceback" not in response.body, where
    if response.status >= 400 and method != "HEAD":
        assert response.headers.get("content-type", "").startswith("application/json"), where
        body = response.json
        assert isinstance(body, dict) and set(body) == {"error"}, where
        error = body["error"]
        # issue 13: `details` is a list of {field, message}, or absent.
        assert isinstance(error, dict) and {"code", "message"} <= set(error), where
        assert set(error) <= {"code", "message", "details"}, where
        assert all(isinstance(item, dict) and set(item) == {"field", "message"}
                   for item in error.get("details", [])), where
        assert isinstance(error["code"], str) and re.fullmatch(r"[a-z][a-z0-9_]*",
                                                               error["code"]), where
        assert isinstance(error["message"], str) and error["message"], where
    if 400 <= response.status < 500:
        assert after == before, f"4xx appended {after - before} event(s): {where}"
    return response


def with_public_token(path: str, world: World, headers: dict[str, Any], draw: st.DrawFn
                      ) -> None:
    if path.startswith("/public/") and "X-Access-Token" not in headers and draw(st.booleans()):
        headers["X-Access-Token"] = world.public_token


# -------------------------------------------------------------------- tests

@FUZZ
@given(data=st.data())
async def test_fuzz_json_bodies(client: Client, services: Services, world: World,
                                data: st.DataObject) -> None:
    """Random JSON (and not-quite-JSON) bodies on every write route, every caller."""
    writes = [(m, p) for m, p in world.routes if m in ("POST", "PUT", "DELETE")
              and "attachments" not in p]
    method, template = data.draw(st.sampled_from(writes))
    path = fill(template, world, data.draw)
    headers = dict(data.draw(authorizations(client)) or {})
    headers.setdefault("content-type", "application/json")
    with_public_token(path, world, headers, data.draw)
    await send(client, services, method, path, content=data.draw(bodies), headers=headers)


@FUZZ
@given(data=st.data())
async def test_fuzz_deep_and_huge_metadata(client: Client, services: Services, world: World,
                                           data: st.DataObject) -> None:
    """Valid commands whose free-form fields (metadata, tags) are nested or huge."""
    depth = data.draw(st.one_of(st.integers(1, 1200), st.sampled_from([254, 255, 256, 300])))
    nested = "[" * depth + "]" * depth
    fields = data.draw(st.sampled_from([
        ("POST", "/tickets", CUSTOMER, '{"subject":"s","description":"d","metadata":{"a":%s}}'),
        ("PUT", f"/tickets/{world.ticket['id']}", ADMIN, '{"metadata":{"a":%s}}'),
        ("POST", "/tickets", ADMIN, '{"subject":"s","description":"d","user_id":"c",'
                                    '"metadata":{"a":%s}}'),
    ]))
    method, path, role, template = fields
    await send(client, services, method, path, as_=role,
               content=(template % nested).encode(),
               headers={"content-type": "application/json"})


@FUZZ
@given(data=st.data())
async def test_fuzz_paths_queries_and_headers(client: Client, services: Services, world: World,
                                              data: st.DataObject) -> None:
    """Every route and method with fuzzed refs, query strings and headers."""
    method, template = data.draw(st.sampled_from(world.routes))
    method = data.draw(st.one_of(st.just(method), st.sampled_from(METHODS)))
    path = fill(template, world, data.draw) + data.draw(query_strings())
    headers = dict(data.draw(authorizations(client)) or {})
    headers.update(data.draw(extra_headers()))
    with_public_token(path, world, headers, data.draw)
    content = data.draw(st.one_of(st.none(), bodies)) if method in ("POST", "PUT") else None
    kwargs: dict[str, Any] = {"headers": headers}
    if content is not None:
        kwargs["content"] = content
    await send(client, services, method, path, **kwargs)


@FUZZ
@given(data=st.data())
async def test_fuzz_statistics_and_lists(client: Client, services: Services, world: World,
                                         data: st.DataObject) -> None:
    """The query-heavy GETs: pagination, filters, date bounds, grouping, cursors."""
    path = data.draw(st.sampled_from([
        "/tickets", "/tickets/statistics", "/agents",
        f"/tickets/{world.ticket['id']}/messages",
        f"/tickets/{world.ticket['id']}/attachments",
        f"/tickets/{world.ticket['id']}/attachments/message/{world.message_id}",
    ]))
    await send(client, services, "GET", path + data.draw(query_strings()),
               as_=data.draw(st.sampled_from(ROLES)))


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    boundary = draw(st.one_of(st.just("fuzzb0undary"),
                              st.text(alphabet="abcXYZ0123456789'()+_,-./:=? ",
                                      min_size=1, max_size=80)))
    names = st.one_of(st.sampled_from(["file", "files", "message_id", "other", ""]),
                      garbage_text)
    file_names = st.one_of(st.none(), st.sampled_from(
        ["a.pdf", "a.png", "", "../../etc/passwd", "a\x00.pdf", "é.pdf", "x" * 300 + ".pdf",
         "a.exe", ".", "..", "CON", "a/b\\c.pdf", 'a".pdf']), st.text(max_size=30))
    contents = st.one_of(st.sampled_from([PDF, PNG, b"", b"MZ\x90\x00", b"hello",
                                          b"\xff" * 100, b"<html>", "\ud800".encode(
                                              "utf-8", "surrogatepass")]),
                         st.binary(max_size=300))
    parts = draw(st.lists(st.tuples(names, file_names, contents), max_size=6))
    body, ctype = multipart(parts, boundary)
    mangle = draw(st.sampled_from(["none", "none", "truncate", "noboundary", "badtype",
                                   "junk", "nofinal", "crlf"]))
    if mangle == "truncate" and body:
        body = body[:draw(st.integers(0, len(body) - 1))]
    elif mangle == "noboundary":
        ctype = "multipart/form-data"
    elif mangle == "badtype":
        ctype = draw(st.sampled_from(["application/json", "text/plain", "", "multipart/mixed; "
                                      f"boundary={boundary}"]))
    elif mangle == "junk":
        body = draw(st.binary(max_size=200)) + body
    elif mangle == "nofinal":
        body = body.replace(f"--{boundary}--".encode(), b"")
    elif mangle == "crlf":
        body = body.replace(b"\r\n", b"\n")
    return body, ctype


@FUZZ
@given(data=st.data())
async def test_fuzz_multipart_uploads(client: Client, services: Services, world: World,
                                      data: st.DataObject) -> None:
    """Random and broken multipart bodies on both upload routes, every caller."""
    suffix = data.draw(st.sampled_from(["/attachments", "/attachments/multiple"]))
    ref = data.draw(st.one_of(st.just(world.ticket["id"]), segments))
    body, ctype = data.draw(multipart_bodies())
    headers = dict(data.draw(authorizations(client)) or {})
    headers["content-type"] = ctype
    if data.draw(st.booleans()):
        headers.update(data.draw(extra_headers()))
        headers["content-type"] = ctype
    query = data.draw(st.one_of(st.just(""), st.sampled_from([
        "?message_id=" + world.message_id, "?message_id=%00", "?message_id=" + "x" * 80,
        "?message_id=00000000-0000-0000-0000-000000000000"])))
    await send(client, services, "POST", f"/tickets/{ref}{suffix}{query}", content=body,
               headers=headers)


# ------------------------------------------- pinned falsifying examples (real bugs)

BIG_CURSOR = "czk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk"  # base64url("s99999…9"), > 2**63


@pytest.mark.parametrize("path", [
    "/tickets/statistics?to=9999-12-31",  # date-only `to` + 1 day overflows
    "/tickets/statistics?from=0001-01-01T00:00:00%2B05:00",  # to UTC underflows
    f"/tickets?cursor={BIG_CURSOR}",  # SQLite: int too large to bind
    f"/tickets/{{id}}/messages?cursor={BIG_CURSOR}",
    f"/tickets/{{id}}/attachments?cursor={BIG_CURSOR}",
])
async def test_pinned_query_values_are_not_500(client: Client, services: Services, world: World,
                                               path: str) -> None:
    await send(client, services, "GET", path.replace("{id}", world.ticket["id"]), as_=ADMIN)


@pytest.mark.parametrize("method,path,role,body", [
    ("POST", "/tickets", CUSTOMER, '{"subject":"s","description":"d","metadata":{"a":%s}}'),
    ("PUT", "/tickets/{id}", ADMIN, '{"metadata":{"a":%s}}'),
])
async def test_pinned_metadata_nested_too_deep_is_4xx(client: Client, services: Services,
                                                      world: World, method: str, path: str,
                                                      role: tuple[str, str], body: str) -> None:
    # orjson.loads accepts 1024 levels, the event transcoder's orjson.dumps only 254.
    nested = "[" * 300 + "]" * 300
    await send(client, services, method, path.replace("{id}", world.ticket["id"]), as_=role,
               content=(body % nested).encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/tickets/{id}/messages", b'{"content":"x"}'),
    ("POST", "/tickets/{id}/close", b""),
    ("POST", "/tickets", b'{"subject":"s","description":"d"}'),
])
async def test_pinned_non_utf8_idempotency_key_is_not_500(
    client: Client, services: Services, world: World, method: str, path: str, body: bytes,
) -> None:
    # On MariaDB the close is committed, then storing the key fails: a 500 after a write.
    before = services.app.recorder.max_notification_id()
    response = await client.request(
        method, path.replace("{id}", world.ticket["id"]), as_=CUSTOMER, content=body,
        headers={"content-type": "application/json", "Idempotency-Key": b"\x80"})
    assert response.status < 500 or services.app.recorder.max_notification_id() == before, (
        f"500 after appending an event: {response!r}")
    await send(client, services, method, path.replace("{id}", world.ticket["id"]), as_=CUSTOMER,
               content=body, headers={"content-type": "application/json",
                                      "Idempotency-Key": b"\x80"})


@pytest.mark.parametrize("method,path,headers", [
    ("GET", "/tickets", {"Authorization": b"Bearer 9\xf74"}),  # latin-1, not UTF-8
    ("GET", "/public/tickets/{number}", {"X-Access-Token": b"\xf7"}),
])
async def test_pinned_non_utf8_credentials_are_4xx(client: Client, services: Services,
                                                   world: World, method: str, path: str,
                                                   headers: dict[str, bytes]) -> None:
    await send(client, services, method, path.replace("{number}", world.public_number),
               headers=headers)
