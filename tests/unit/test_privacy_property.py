"""Invariant 7 as a property: whatever staff, customers and token holders do, in whatever
order, no customer-visible or public response ever contains an internal note's text: not
the ticket, its messages, lists and counts, nor its history or any past version of it.
Analysts act too: whatever they try to change answers 403.

Runs the real API on the embedded (SQLite) profile, one fresh database per example.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sav.api.app import create_app
from sav.bootstrap import bootstrap
from sav.events import clock
from sav.workers.inprocess import start_projector
from tests.support.http import (
    ADMIN,
    AGENT,
    ANALYST,
    CUSTOMER,
    OTHER_AGENT,
    OTHER_CUSTOMER,
    Client,
    Response,
)
from tests.support.settings import make_settings

ACTORS = {"owner": CUSTOMER, "other": OTHER_CUSTOMER, "agent": AGENT, "agent2": OTHER_AGENT,
          "admin": ADMIN, "analyst": ANALYST, "public": None}
# Whose responses must never leak: the owner, another customer, an anonymous token holder.
WATCHED = {"owner", "other", "public"}
ACTIONS = ("say", "note", "edit", "delete", "read", "read_all", "assign", "start", "wait",
           "resolve", "close", "reopen", "notes_field", "rate", "look")

MAX_STEPS = 18
steps = st.lists(
    st.tuples(st.sampled_from(sorted(ACTORS)), st.sampled_from(ACTIONS), st.integers(0, 7)),
    min_size=1, max_size=MAX_STEPS,
)


@dataclass
class Scenario:
    client: Client
    ticket: dict[str, Any]
    secrets: list[str] = field(default_factory=list)
    internal_ids: set[str] = field(default_factory=set)
    message_ids: list[str] = field(default_factory=list)
    watched: list[Response] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/tickets/{self.ticket['id']}"

    @property
    def public_path(self) -> str:
        return f"/public/tickets/{self.ticket['ticket_number']}"

    @property
    def token(self) -> dict[str, str]:
        return {"X-Access-Token": self.ticket["access_token"]}

    def secret(self) -> str:
        text = f"INTERNAL-{uuid4().hex}"
        self.secrets.append(text)
        return text

    def target(self, pick: int) -> str:
        return self.message_ids[pick % len(self.message_ids)] if self.message_ids else str(uuid4())

    async def act(self, who: str, action: str, pick: int) -> Response:
        c, as_ = self.client, ACTORS[who]
        if who == "public":
            if action == "say":
                return await c.post(f"{self.public_path}/messages", headers=self.token,
                                    json={"content": f"public reply {pick}"})
            if action == "rate":
                return await c.post(f"{self.public_path}/satisfaction", headers=self.token,
                                    json={"rating": 1 + pick % 5})
            return await c.get(self.public_path, headers=self.token)
        msgs = f"{self.path}/messages"
        if action in ("say", "note"):
            internal = action == "note"
            content = self.secret() if internal else f"hello {pick}"
            response = await c.post(msgs, as_=as_, json={"content": content,
                                                         "is_internal": internal})
            if response.status == 201:
                self.message_ids.append(response.json["id"])
                if internal:
                    self.internal_ids.add(response.json["id"])
            return response
        if action == "edit":
            # Editing a note keeps it internal: its new text is a secret too. Editing a
            # public message publishes the new text, so that text is not a secret.
            target = self.target(pick)
            content = self.secret() if target in self.internal_ids else f"edit {pick}"
            return await c.put(f"{msgs}/{target}", as_=as_, json={"content": content})
        if action == "delete":
            return await c.delete(f"{msgs}/{self.target(pick)}", as_=as_)
        if action == "read":
            return await c.post(f"{msgs}/{self.target(pick)}/mark-read", as_=as_)
        if action == "read_all":
            return await c.post(f"{msgs}/mark-all-read", as_=as_)
        if action == "assign":
            agent = (AGENT, OTHER_AGENT)[pick % 2][0]
            return await c.post(f"{self.path}/assign", as_=as_, json={"agent_id": agent})
        if action in ("start", "wait", "resolve", "close", "reopen"):
            return await c.post(f"{self.path}/{action}", as_=as_)
        if action == "notes_field":
            return await c.put(self.path, as_=as_, json={"internal_notes": self.secret()})
        if action == "rate":
            return await c.post(f"{self.path}/satisfaction", as_=as_,
                                json={"rating": 1 + pick % 5, "comment": "fine"})
        return await c.get(self.path, as_=as_)

    def past_views(self) -> list[str]:
        """The ticket at each of its versions: a story appends at most two events a step,
        after the creation and the user link (later versions are 404s)."""
        return [f"{self.path}?version={v}" for v in range(1, 2 * MAX_STEPS + 3)]

    async def sweep(self) -> None:
        """Every read a customer or token holder can make, at the end of the story."""
        c = self.client
        for who in ("owner", "other"):
            as_ = ACTORS[who]
            reads = [self.path, "/tickets", f"{self.path}/messages?limit=100",
                     f"{self.path}/messages/unread-count", "/tickets/statistics",
                     *[f"{self.path}/messages/{mid}" for mid in self.message_ids],
                f"{self.path}/history?limit=100", *self.past_views()]
            self.watched += [await c.get(path, as_=as_) for path in reads]
        self.watched.append(await c.get(self.public_path, headers=self.token))
        listed = await c.get(f"{self.path}/messages?limit=100", as_=CUSTOMER)
        if listed.status == 200:
            unread = [m for m in listed.json["data"]
                      if m["user_id"] not in (CUSTOMER[0], None) and not m["is_read"]]
            count = await c.get(f"{self.path}/messages/unread-count", as_=CUSTOMER)
            assert count.json == {"count": len(unread)}


async def play(story: list[tuple[str, str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = bootstrap(make_settings("sqlite", Path(tmp), SAV_PUBLIC_RATE_LIMIT="0"))
        start_projector(services)
        try:
            client = Client(create_app(services.settings, services))
            created = await client.post("/public/tickets", json={
                "email": "ann@example.com", "name": "Ann", "subject": "s", "description": "d"})
            # The contact later registers: the ticket is both owned and token-accessible.
            _, _, position = await services.commands.call(
                services.app.change_ticket, UUID(created.json["id"]),
                lambda t: t.link_user(CUSTOMER[0], "ann@example.com"))
            await services.read_model.wait(position)
            scenario = Scenario(client, created.json)
            for who, action, pick in story:
                response = await scenario.act(who, action, pick)
                assert response.status < 500, (who, action, response)
                if who == "analyst" and action != "look":
                    assert response.status == 403, (action, response)
                if who in WATCHED:
                    scenario.watched.append(response)
            await scenario.sweep()
            for response in scenario.watched:
                body = response.body.decode()
                leaked = [s for s in scenario.secrets if s in body]
                assert not leaked, (response, leaked)
        finally:
            await services.aclose()
            clock.reset()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(story=steps)
def test_no_customer_or_public_response_contains_internal_text(
    story: list[tuple[str, str, int]],
) -> None:
    asyncio.run(play(story))
