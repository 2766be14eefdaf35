"""`sav privacy encrypt-legacy` on the store written by event schema version 1 (plain text):
it still loads; one run seals every personal field, a second rewrites nothing; the
tickets read the same; the subject can then be erased (issue 12)."""

from __future__ import annotations

from sqlalchemy import text

from sav.bootstrap import Services
from sav.privacy.legacy import encrypt_legacy
from sav.workers.projections import replay
from tests.integration.test_stored_v1 import load_fixture
from tests.support.http import ADMIN, Client

PLAIN = [b"Parcel lost", b"Order #42 never came", b"ann@example.com", b"Looking into it",
         b"Any news?", b"mug.png", b"carol@example.com", b"Arrived in pieces"]


def stored_states(services: Services) -> bytes:
    with services.engine.connect() as conn:
        return b"".join(bytes(state) for state in conn.execute(
            text("SELECT state FROM stored_events")).scalars())


async def test_legacy_plain_text_is_sealed_once_and_then_erasable(
        services: Services, client: Client) -> None:
    records = load_fixture(services)
    assert await services.read_model.wait(records[-1]["position"])
    before = (await client.get("/tickets?limit=100", as_=ADMIN)).json["data"]
    assert all(value in stored_states(services) for value in PLAIN)

    rewritten = encrypt_legacy(services.app)
    assert rewritten >= 10
    assert [value for value in PLAIN if value in stored_states(services)] == []
    assert encrypt_legacy(services.app) == 0  # idempotent

    replay(services.app, services.engine)
    after = (await client.get("/tickets?limit=100", as_=ADMIN)).json["data"]
    assert [(t["id"], t["subject"], t["contact_email"]) for t in after] == [
        (t["id"], t["subject"], t["contact_email"]) for t in before]

    erased = await client.post("/privacy/erasures", as_=ADMIN, json={"user_id": "cust-1"})
    assert erased.status == 202, erased
    assert await services.read_model.wait(services.app.recorder.max_notification_id())
    ann = next(t for t in after if t["subject"] == "Parcel lost")
    seen = (await client.get(f"/tickets/{ann['id']}", as_=ADMIN)).json
    assert seen["erased"] is True and seen["subject"] is None
    assert [m["content"] for m in seen["messages"]] == [None] * len(seen["messages"])
