"""One ticket changed many times over HTTP, an hour apart on a frozen clock: the story the
history and time-travel tests read back. Each step records the ticket as the normal
`GET /tickets/{id}` showed it (to staff and to its owner) right after the step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sav.events import clock
from tests.support.attachments import PDF, PNG
from tests.support.http import ADMIN, AGENT, CUSTOMER, Client, Response, create_ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOTE = "INTERNAL: customer flagged for fraud review"
NOTES_FIELD = "INTERNAL: refund approved by finance"


@dataclass
class Step:
    name: str
    at: datetime
    version: int
    ticket: dict[str, Any]  # the staff view right after the step
    customer_ticket: dict[str, Any]  # the owner's view


@dataclass
class Story:
    ticket_id: str
    ticket_number: str
    steps: list[Step] = field(default_factory=list)
    internal_message_id: str = ""

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @property
    def head(self) -> int:
        return self.steps[-1].version


async def tell_story(client: Client) -> Story:
    """Create a ticket and change it seventeen times (18 events); the clock stays frozen
    at the last step (the `services` fixture resets it)."""
    clock.freeze(T0)
    created = await create_ticket(client, subject="Parcel lost", description="Never came")
    story = Story(created["id"], created["ticket_number"])
    path = f"/tickets/{story.ticket_id}"
    await record(client, story, "created")

    async def act(name: str, response_of: Any) -> Response:
        clock.freeze(T0 + timedelta(hours=len(story.steps)))
        response = await response_of
        assert response.status in (200, 201), (name, response)
        await record(client, story, name)
        return response

    await act("subject", client.put(path, as_=CUSTOMER, json={"subject": "Parcel lost (2)"}))
    await act("assign", client.post(f"{path}/assign", as_=ADMIN, json={"agent_id": AGENT[0]}))
    await act("start", client.post(f"{path}/start", as_=AGENT))
    note = await act("note", client.post(f"{path}/messages", as_=AGENT, json={
        "content": NOTE, "is_internal": True}))
    story.internal_message_id = note.json["id"]
    await act("note_file", client.post(
        f"{path}/attachments", as_=AGENT, data={"message_id": story.internal_message_id},
        files={"file": ("evidence.pdf", PDF, "application/pdf")}))
    await act("note_edit", client.put(f"{path}/messages/{story.internal_message_id}",
                                      as_=AGENT, json={"content": NOTE + " (confirmed)"}))
    await act("reply", client.post(f"{path}/messages", as_=AGENT,
                                   json={"content": "We are looking into it"}))
    await act("triage", client.put(path, as_=AGENT, json={
        "category": "delivery", "internal_notes": NOTES_FIELD}))
    await act("wait", client.post(f"{path}/wait", as_=AGENT))
    await act("customer_reply", client.post(f"{path}/messages", as_=CUSTOMER,
                                            json={"content": "Still nothing"}))
    await act("photo", client.post(f"{path}/attachments", as_=CUSTOMER,
                                   files={"file": ("box.png", PNG, "image/png")}))
    await act("read", client.post(f"{path}/messages/mark-all-read", as_=CUSTOMER))
    await act("notes_only", client.put(path, as_=AGENT,
                                       json={"internal_notes": NOTES_FIELD + " twice"}))
    await act("resolve", client.post(f"{path}/resolve", as_=AGENT,
                                     json={"resolution": "Refunded"}))
    await act("rate", client.post(f"{path}/satisfaction", as_=CUSTOMER,
                                  json={"rating": 4, "comment": "ok"}))
    await act("reopen", client.post(f"{path}/reopen", as_=CUSTOMER,
                                    json={"reason": "the refund never came"}))
    return story


async def record(client: Client, story: Story, name: str) -> None:
    staff = await client.get(f"/tickets/{story.ticket_id}", as_=ADMIN)
    owner = await client.get(f"/tickets/{story.ticket_id}", as_=CUSTOMER)
    assert staff.status == owner.status == 200, (staff, owner)
    story.steps.append(Step(name, clock.now(), staff.json["version"], staff.json, owner.json))
