"""The Webhook aggregate, its commands and its fold, on the in-memory store: who may
subscribe, what is checked, the secret sealed in storage, and the read model's row."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from sav.commands.actor import Actor
from sav.commands.app import SavApplication
from sav.events import clock
from sav.events.errors import NotFoundError, PermissionDeniedError, RuleViolationError
from sav.events.webhook import FAILING, Webhook
from sav.projections.fold import MemoryTables
from sav.webhooks.commands import (
    CreateWebhook,
    TargetRules,
    UpdateWebhook,
    create_webhook,
    delete_webhook,
    disable_webhook,
    rotate_secret,
    secret_of,
    signing_secrets,
    update_webhook,
)
from sav.webhooks.subscriptions import FOLD, webhook_subscriptions
from sav.workers.routing import message_data
from tests.support.domain import ADMIN, AGENT, CUSTOMER

OPEN = TargetRules(allow_private=True, https_only=False)
STRICT = TargetRules(allow_private=False, https_only=True)
URL = "https://crm.example.invalid/hooks"


def create(app: SavApplication, **fields: object) -> str:
    cmd = CreateWebhook.model_validate({"url": URL, "events": ["ticket.created"], **fields})
    return create_webhook(app, ADMIN, cmd, OPEN).webhook_id


def folded(app: SavApplication, webhook_id: str) -> object:
    tables = MemoryTables([webhook_subscriptions])
    for position, event in enumerate(app.events.get(UUID(webhook_id)), start=1):
        step = FOLD[type(event)]
        assert step is not None
        tables.apply(step(tables, event, position))
    return tables.rows[webhook_subscriptions.name].get(webhook_id)


@pytest.mark.parametrize("actor", [CUSTOMER, AGENT, Actor("analyst-1", "analyst")],
                         ids=lambda a: a.role)
def test_only_admins_subscribe(actor: Actor) -> None:
    app = SavApplication()
    cmd = CreateWebhook(url=URL, events=["*"])
    with pytest.raises(PermissionDeniedError):
        create_webhook(app, actor, cmd, OPEN)


def test_unknown_events_and_refused_targets_name_their_field() -> None:
    app = SavApplication()
    with pytest.raises(RuleViolationError) as unknown:
        create_webhook(app, ADMIN, CreateWebhook(url=URL, events=["ticket.nope"]), OPEN)
    assert unknown.value.details[0]["field"] == "events"
    for url in ("http://crm.example.com/h", "https://10.0.0.1/h", "https://localhost/h"):
        with pytest.raises(RuleViolationError) as refused:
            create_webhook(app, ADMIN, CreateWebhook(url=url, events=["*"]), STRICT)
        assert refused.value.details[0]["field"] == "url"


def test_the_secret_is_sealed_in_the_store_and_opens_on_load() -> None:
    app = SavApplication()
    outcome = create_webhook(app, ADMIN, CreateWebhook(url=URL, events=["*"]), OPEN)
    assert outcome.secret is not None and outcome.secret.startswith("whsec_")
    raw = b"".join(event.state for event in app.recorder.select_events(
        UUID(outcome.webhook_id)))
    assert outcome.secret.encode() not in raw
    assert outcome.secret.removeprefix("whsec_").encode() not in raw
    assert URL.encode() in raw  # the URL is configuration, not a secret of the store
    assert secret_of(app, outcome.webhook_id) == outcome.secret


def test_a_rotated_secret_is_sealed_signs_with_the_old_one_for_the_grace_only() -> None:
    app = SavApplication()
    created = create_webhook(app, ADMIN, CreateWebhook(url=URL, events=["*"]), OPEN)
    webhook_id, first = created.webhook_id, created.secret
    assert first is not None
    with pytest.raises(PermissionDeniedError):
        rotate_secret(app, AGENT, webhook_id, 24.0)
    rotated = rotate_secret(app, ADMIN, webhook_id, 24.0)
    second = rotated.secret
    assert second is not None and second != first and second.startswith("whsec_")
    assert secret_of(app, webhook_id) == second
    secrets, until = signing_secrets(app, webhook_id)
    assert secrets == [second, first] and until is not None
    assert until - clock.now().timestamp() == pytest.approx(24 * 3600, abs=5)
    events = list(app.events.get(UUID(webhook_id)))
    raw = b"".join(e.state for e in app.recorder.select_events(UUID(webhook_id)))
    assert second.encode() not in raw and second.removeprefix("whsec_").encode() not in raw
    record = {"stream_id": webhook_id, "data": {"changes": events[-1].changes}}
    published = message_data(Webhook.Updated, record, {})
    assert published["changes"] == {"previous_secret_until": rotated.previous_secret_until}
    assert folded(app, webhook_id).url == URL  # type: ignore[attr-defined]
    clock.travel(timedelta(hours=24, seconds=1))
    try:
        assert signing_secrets(app, webhook_id) == ([second], None)
        third = rotate_secret(app, ADMIN, webhook_id, 1.0).secret
        assert signing_secrets(app, webhook_id)[0] == [third, second]  # not the first
    finally:
        clock.reset()
    delete_webhook(app, ADMIN, webhook_id)
    with pytest.raises(NotFoundError):
        rotate_secret(app, ADMIN, webhook_id, 24.0)


def test_changes_pause_resume_disable_and_delete_fold_into_the_row() -> None:
    app = SavApplication()
    webhook_id = create(app, description="CRM")
    row = folded(app, webhook_id)
    assert (row.url, row.events, row.active, row.description) == (  # type: ignore[attr-defined]
        URL, ["ticket.created"], True, "CRM")

    update_webhook(app, ADMIN, webhook_id, UpdateWebhook(events=["*"], active=False), OPEN)
    row = folded(app, webhook_id)
    assert (row.events, row.active) == (["*"], False)  # type: ignore[attr-defined]
    version = app.repository.get(UUID(webhook_id)).version
    update_webhook(app, ADMIN, webhook_id, UpdateWebhook(active=False), OPEN)
    assert app.repository.get(UUID(webhook_id)).version == version  # nothing to record

    assert disable_webhook(app, webhook_id, FAILING, "d-1", 500) is None  # paused: stays
    update_webhook(app, ADMIN, webhook_id, UpdateWebhook(active=True), OPEN)
    assert disable_webhook(app, webhook_id, FAILING, "d-1", 500) is not None
    row = folded(app, webhook_id)
    assert (row.active, row.disabled_reason) == (False, "failing")  # type: ignore[attr-defined]
    disabled = list(app.events.get(UUID(webhook_id)))[-1]
    assert isinstance(disabled, Webhook.Disabled) and disabled.actor["role"] == "system"

    update_webhook(app, ADMIN, webhook_id, UpdateWebhook(active=True), OPEN)
    assert folded(app, webhook_id).disabled_reason is None  # type: ignore[attr-defined]

    delete_webhook(app, ADMIN, webhook_id)
    assert folded(app, webhook_id) is None
    with pytest.raises(NotFoundError):
        update_webhook(app, ADMIN, webhook_id, UpdateWebhook(active=True), OPEN)
    assert disable_webhook(app, webhook_id, FAILING, None, None) is None
    with pytest.raises(NotFoundError):
        delete_webhook(app, ADMIN, "not-a-uuid")
