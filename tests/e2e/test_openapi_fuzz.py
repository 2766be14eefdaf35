"""Property-based fuzzing from `/openapi.json` against a real `sav serve` (schemathesis),
on both profiles: every answer is one the document declares (status, content type,
schema, headers) and none is a 5xx; and the document says exactly what the validators
accept (issue 19): data valid by it is accepted, data invalid by it is refused, for
every role, on every operation but a few it cannot describe (`NOT_SPEC_ACCURATE`).

Random path parameters rarely name anything, so three cases in four (decided by the
generated value itself: reproducible) are pointed at a real ticket, message, attachment
or public ticket seeded first; the public ones carry the real access token. Each case
goes out with one role's token, three in four an admin's. Hypothesis keeps its examples
per operation low, positive and negative cases checked in one pass.
"""
from __future__ import annotations

import os
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.core.parameters import ParameterLocation

from sav.api.auth import issue_token
from sav.events.errors import RuleViolationError
from sav.projections.statistics import parse_bound
from tests.support.live_server import LiveServer, live_server
from tests.support.settings import JWT_SECRET, PROFILES, drop_mysql_database, make_settings

EXAMPLES_PER_OPERATION = 4
# The suite sends the same cases every run (a red CI is a change's doing, not the draw's);
# `SAV_FUZZ_EXPLORE=1` draws new ones each run, to look for what the fixed ones miss
# (how the bodies' JSON types and the e-mail pattern were found).
EXPLORE = os.environ.get("SAV_FUZZ_EXPLORE") == "1"
# The answers' conformance, on every operation.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance,
          checks.response_headers_conformance]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@schemathesis.serializer("message/rfc822")
def _raw_mail(ctx: Any, value: Any) -> bytes:
    """`POST /inbound/email` takes a raw mail: generated strings go out as their bytes."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")


@dataclass(frozen=True)
class Targets:
    """Real things the fuzzed path parameters are pointed at: made afresh for each
    operation that names them, so one that deletes or closes them leaves the next one
    its own."""

    path_values: dict[str, str]
    access_token: str = ""


@dataclass(frozen=True)
class Server:
    live: LiveServer
    tokens: dict[str, str]

    @property
    def admin(self) -> str:
        return self.tokens["admin"]

    @property
    def customer(self) -> str:
        return self.tokens["customer"]

    def targets(self, path: str) -> Targets:
        """Only what `path` names: each thing costs requests."""
        values = {"agent_id": "agent-1", "asset": "swagger-ui.css"}
        if path.startswith("/public/tickets/{"):
            with httpx.Client(base_url=self.live.base_url, timeout=30) as http:
                public = http.post("/public/tickets", json={
                    "email": "anon@example.com", "subject": "Broken", "description": "Lid"}
                ).json()
            values["ticket_ref"] = public["ticket_number"]
            return Targets(values, public["access_token"])
        as_admin = {"Authorization": f"Bearer {self.admin}"}
        if "{macro_id}" in path or "{name}" in path:
            with httpx.Client(base_url=self.live.base_url, timeout=30,
                              headers=as_admin) as http:
                if "{macro_id}" in path:
                    values["macro_id"] = http.post("/macros", json={
                        "title": "Parcel replaced", "content": "A new one ships today.",
                        "is_internal": False}).json()["id"]
                if "{name}" in path:
                    values["name"] = http.put("/sla/policies/fuzzed", json={
                        "priority": ["urgent"], "first_response_minutes": 30,
                        "resolution_minutes": 480}
                    ).json()["name"]
        if "{ticket_ref}" not in path:
            return Targets(values)
        as_customer = {"Authorization": f"Bearer {self.customer}"}
        with httpx.Client(base_url=self.live.base_url, timeout=30,
                          headers=as_customer) as http:
            created = http.post("/tickets", json={
                "subject": "Parcel late", "description": "Still waiting"})
            assert created.status_code == 201, created.text
            ticket = created.json()
            values["ticket_ref"] = ticket["id"]
            if "{message_ref}" in path or "{message_id}" in path:
                message = http.post(f"/tickets/{ticket['id']}/messages",
                                    json={"content": "Any news?"}).json()
                values["message_ref"] = values["message_id"] = message["id"]
            if "{other_id}" in path:
                other = http.post("/tickets", json={
                    "subject": "Parcel late again", "description": "Same order"}).json()
                values["other_id"] = other["id"]
                httpx.post(f"{self.live.base_url}/tickets/{ticket['id']}/links",
                           headers=as_admin, json={"ticket_id": other["id"], "kind": "related"},
                           timeout=30).raise_for_status()
            if "{attachment_id}" in path:
                values["attachment_id"] = http.post(
                    f"/tickets/{ticket['id']}/attachments",
                    files={"file": ("invoice.pdf", PDF, "application/pdf")}).json()["id"]
        return Targets(values)


@pytest.fixture(scope="module", params=PROFILES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    if request.param == "mysql":
        request.getfixturevalue("mysql_allows_large_events")
    data_dir: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    app_settings = make_settings(str(request.param), data_dir)
    try:
        # A generous public limit: 429s are documented, but would hide the routes.
        with live_server(app_settings, SAV_PUBLIC_RATE_LIMIT="100000") as live:
            yield Server(live, {
                "admin": issue_token(JWT_SECRET, "admin-1", "admin"),
                "agent": issue_token(JWT_SECRET, "agent-1", "agent"),
                "analyst": issue_token(JWT_SECRET, "analyst-1", "analyst"),
                "customer": issue_token(JWT_SECRET, "cust-1", "customer",
                                        email="c@example.com")})
    finally:
        if app_settings.is_mysql:
            drop_mysql_database(app_settings.db_database)


def negative_at(case: Any, location: ParameterLocation) -> bool:
    """Whether schemathesis made this part of the request invalid on purpose: the test
    leaves it as generated, or the refusal it checks for would be of the test's making."""
    return case.meta is not None and case.meta.is_negative_at(location)


def aim(case: Any, server: Server, targets: Targets, role: str) -> dict[str, str]:
    """Point three cases in four at real things (decided by the generated value, so a
    failure replays); the headers to send: `role`'s token, the public access token."""
    headers = {}
    if not negative_at(case, ParameterLocation.HEADER):  # else: no token, or a bad one
        headers["Authorization"] = f"Bearer {server.tokens[role]}"
    query = case.query or {}
    if isinstance(query.get("wait"), int | float) and 0.2 < query["wait"] <= 30:
        query["wait"] = 0.2  # a long poll on a quiet store would only wait its 30 s
    params = case.path_parameters or {}
    if negative_at(case, ParameterLocation.PATH):
        params = {}
    for name, value in list(params.items()):
        if name in targets.path_values and zlib.crc32(repr(value).encode()) % 4:
            params[name] = targets.path_values[name]
            if targets.access_token:
                headers["X-Access-Token"] = targets.access_token
    return headers


# What the document cannot describe fully: these get the answers' checks only (the
# reasons are in decision 0019 too).
NOT_SPEC_ACCURATE = {
    # The file's type is checked by its content (magic bytes), and refused with 415:
    # no schema describes which bytes make an image or a PDF.
    "POST /tickets/{ticket_ref}/attachments": "file type by content",
    "POST /tickets/{ticket_ref}/attachments/multiple": "file type by content",
    # The target URL is checked by the network guard when created: a private address,
    # or a name that resolves to one, is refused (it depends on DNS, not on the text).
    "POST /webhooks": "URL checked by resolving it",
    "PATCH /webhooks/{webhook_id}": "URL checked by resolving it",
    # A whole mail (message/rfc822): what it must hold (a From, a To of the support
    # address) is read by the mail parser, not described by a schema; and its own token.
    "POST /inbound/email": "a raw mail",
    # Opening hours: each interval's start before its end and intervals that do not
    # overlap, across values of the body (described in words).
    "PUT /sla/calendar": "intervals in order, across values",
}
# Valid data by the document is accepted (or refused by a rule of the domain or the
# caller's role: 403, 404, 409), invalid data is refused.
ACCURACY_CHECKS = [checks.negative_data_rejection, checks.positive_data_acceptance]
# Three cases in four an admin's (most routes succeed for an admin: with one case in two,
# a third of the operations met no success in some runs), the others each role in turn.
ROLES = ("admin", "admin", "admin", "agent", "admin", "admin", "admin", "analyst",
         "admin", "admin", "admin", "customer")


def breaks_a_stated_rule(case: Any) -> bool:
    """Rules across parameters the document states in words (JSON Schema cannot say them
    of query parameters): positive cases that break them are not generated."""
    query = case.query or {}
    if case.operation.label == "GET /tickets/{ticket_ref}":  # `version` or `as_of`
        return query.get("version") is not None and query.get("as_of") is not None
    if case.operation.label == "GET /tickets/statistics":  # `from` not after `to`
        try:
            start, end = parse_bound("from", query.get("from")), parse_bound("to", query.get("to"))
        except RuleViolationError:
            return False
        return start is not None and end is not None and start > end
    return False


def fuzz(operation: Any, mode: GenerationMode, server: Server, targets: Targets,
         statuses: Counter[int]) -> None:
    """Up to EXAMPLES_PER_OPERATION cases of `mode` for one operation, each sent and
    checked; hypothesis shrinks a failure to its smallest case."""
    accurate = operation.label not in NOT_SPEC_ACCURATE
    checks_ = CHECKS + ACCURACY_CHECKS if accurate else CHECKS

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
              derandomize=not EXPLORE)
    def run(case: Any) -> None:
        if mode is GenerationMode.POSITIVE:
            assume(not breaks_a_stated_rule(case))
        # The role by the generated value (a failure replays); the real ticket is the
        # customer's own.
        generated = (case.path_parameters, case.query, case.body, case.headers)
        role = ROLES[zlib.crc32(repr(generated).encode()) % len(ROLES)]
        headers = aim(case, server, targets, role)
        if accurate:  # a stale version or a reused key is state, not data
            for name in ("If-Match", "Idempotency-Key"):
                (case.headers or {}).pop(name, None)
        response = case.call_and_validate(base_url=server.live.base_url, headers=headers,
                                          checks=checks_, timeout=30)
        statuses[response.status_code] += 1

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise  # only a route without parameters has no invalid request to make


def test_every_answer_is_documented_and_says_what_is_accepted(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.live.base_url}/openapi.json")
    failures: list[str] = []
    answered: dict[str, Counter[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        statuses = answered[operation.label] = Counter()
        targets = server.targets(operation.path)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, server, targets, statuses)
            except (Exception, BaseExceptionGroup) as failure:  # one run reports all
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    for label, statuses in sorted(answered.items()):
        print(f"{label:70} {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures)
    assert len(answered) > 40
    assert set(NOT_SPEC_ACCURATE) <= set(answered)  # no stale exclusion
    assert len(answered) - len(NOT_SPEC_ACCURATE) > 60
    # Not only 404s and 422s: the real things make most routes succeed sometimes.
    succeeded = [label for label, statuses in answered.items()
                 if any(200 <= status < 300 for status in statuses)]
    assert len(succeeded) > len(answered) * 2 // 3, sorted(set(answered) - set(succeeded))
