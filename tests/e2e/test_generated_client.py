"""A Python client generated from the live `/openapi.json` (openapi-python-client, as an
adopter would run it) reads well and works against a real `sav serve`, without edits:
create a ticket, list tickets, reply, and an error that comes back typed.

Generated once for the module (about 3 s) into a temporary directory, SQLite profile:
the document is the same on both.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from sav.api.auth import issue_token
from tests.support.live_server import LiveServer, live_server
from tests.support.settings import JWT_SECRET, make_settings

PACKAGE = "sav_client"
GENERATOR_CONFIG = f"""\
package_name_override: {PACKAGE}
project_name_override: sav-client
post_hooks: []
"""


@dataclass(frozen=True)
class Generated:
    live: LiveServer
    root: Path  # the generated package's directory

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.{name}")

    def client(self, sub: str, role: str) -> Any:
        authenticated = self.module("client").AuthenticatedClient
        return authenticated(base_url=self.live.base_url,
                             token=issue_token(JWT_SECRET, sub, role), timeout=30.0)


def generator() -> str:
    beside = Path(sys.executable).with_name("openapi-python-client")
    found = str(beside) if beside.exists() else shutil.which("openapi-python-client")
    assert found, "openapi-python-client is a test dependency: pip install -e '.[test]'"
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    work = tmp_path_factory.mktemp("generated-client")
    with live_server(make_settings("sqlite", work / "data")) as live:
        document = httpx.get(f"{live.base_url}/openapi.json", timeout=30)
        (work / "openapi.json").write_bytes(document.content)
        (work / "config.yaml").write_text(GENERATOR_CONFIG)
        result = subprocess.run(
            [generator(), "generate", "--path", str(work / "openapi.json"),
             "--config", str(work / "config.yaml"), "--meta", "none",
             "--output-path", str(work / PACKAGE)],
            capture_output=True, text=True, timeout=120, cwd=work)
        assert result.returncode == 0, result.stdout + result.stderr
        sys.path.insert(0, str(work))
        try:
            yield Generated(live, work / PACKAGE)
        finally:
            sys.path.remove(str(work))
            for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
                del sys.modules[name]


def test_the_generated_names_read_like_the_api(generated: Generated) -> None:
    api = generated.root / "api"
    assert {"create_ticket.py", "list_tickets.py", "get_ticket.py", "update_ticket.py"} <= {
        p.name for p in (api / "tickets").iterdir()}
    assert {"list_ticket_messages.py", "create_ticket_message.py"} <= {
        p.name for p in (api / "messages").iterdir()}
    models = generated.module("models")
    for name in ("TicketCreate", "TicketDetails", "TicketPage", "MessageCreate", "Message",
                 "PublicTicketCreate", "Error"):
        assert hasattr(models, name), name
    # No name made of a handler's or a route's (`tickets_create_route_post`).
    every = [p.stem for p in generated.root.rglob("*.py")]
    assert not [n for n in every if "route" in n or n.endswith(("_post", "_get", "_put"))]


def test_create_list_reply_and_a_typed_error(generated: Generated) -> None:
    models = generated.module("models")
    create_ticket = generated.module("api.tickets.create_ticket")
    list_tickets = generated.module("api.tickets.list_tickets")
    get_ticket = generated.module("api.tickets.get_ticket")
    create_message = generated.module("api.messages.create_ticket_message")
    list_messages = generated.module("api.messages.list_ticket_messages")

    with generated.client("cust-gen", "customer") as customer:
        ticket = create_ticket.sync(client=customer, body=models.TicketCreate(
            subject="Order not received", description="Parcel #42 never came",
            priority=models.Priority.HIGH))
        assert isinstance(ticket, models.TicketDetails), ticket
        assert ticket.status == models.Status.OPEN and ticket.priority == models.Priority.HIGH
        assert ticket.ticket_number.startswith("TICKET-")

        page = list_tickets.sync(client=customer, limit=10)
        assert isinstance(page, models.TicketPage)
        assert ticket.id in [t.id for t in page.data]

        reply = create_message.sync(ticket.id, client=customer,
                                    body=models.MessageCreate(content="Any news?"))
        assert isinstance(reply, models.Message) and reply.content == "Any news?"
        messages = list_messages.sync(ticket.id, client=customer)
        assert isinstance(messages, models.MessagePage)
        assert [m.content for m in messages.data] == ["Any news?"]

        missing = get_ticket.sync_detailed("TICKET-19990101-001", client=customer)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Error)
        assert missing.parsed.error.code == "not_found"

    with generated.client("cust-other", "customer") as stranger:
        hidden = get_ticket.sync_detailed(ticket.id, client=stranger)
        assert hidden.status_code == 404 and isinstance(hidden.parsed, models.Error)
