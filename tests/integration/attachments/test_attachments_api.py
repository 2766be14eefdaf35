"""Attachment routes over HTTP, on both blob stores and both database profiles:
round trips, validation, permissions and privacy."""

from __future__ import annotations

import datetime as dt
from uuid import uuid4

import pytest

from sav.bootstrap import Services
from tests.support.attachments import (
    EXE,
    LOCAL,
    PDF,
    PNG,
    fetch,
    post_message,
    stored_keys,
    upload,
)
from tests.support.http import ADMIN, AGENT, CUSTOMER, OTHER_CUSTOMER, Client, create_ticket


async def test_upload_list_get_and_download_round_trip(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    response = await upload(client, ticket["id"], "facture été.pdf")
    assert response.status == 201, response
    item = response.json
    assert item["ticket_id"] == ticket["id"] and item["user_id"] == "cust-1"
    assert item["file_name"] == "facture été.pdf" and item["file_size"] == len(PDF)
    assert item["mime_type"] == "application/pdf" and item["file_type"] == "pdf"
    assert item["file_path"] == f"tickets/{ticket['id']}/{item['id']}/facture été.pdf"
    assert stored_keys(services, ticket["id"]) == [item["file_path"]]
    base = f"/tickets/{ticket['id']}/attachments"
    listed = await client.get(base, as_=CUSTOMER)
    assert [a["id"] for a in listed.json["data"]] == [item["id"]]
    assert (await client.get(f"{base}/{item['id']}", as_=AGENT)).json == item
    details = await client.get(f"/tickets/{ticket['ticket_number']}", as_=CUSTOMER)
    assert [a["id"] for a in details.json["attachments"]] == [item["id"]]
    download = await client.get(f"{base}/{item['id']}/download", as_=CUSTOMER)
    assert download.status == 200
    expires = dt.datetime.fromisoformat(download.json["expires_at"].replace("Z", "+00:00"))
    remaining = (expires - dt.datetime.now(dt.UTC)).total_seconds()
    assert 3500 < remaining <= 3600
    status, body, _ = await fetch(client, download.json["url"])
    assert status == 200 and body == PDF


async def test_upload_multiple_files(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    files = [("files", ("a.pdf", PDF, "application/pdf")),
             ("files", ("shot.png", PNG, "image/png")),
             ("files", ("app.log", b"2024-01-01 ERROR boom\n", "text/plain"))]
    response = await client.post(f"/tickets/{ticket['id']}/attachments/multiple",
                                 as_=CUSTOMER, files=files)
    assert response.status == 201, response
    types = [(a["file_name"], a["mime_type"]) for a in response.json["data"]]
    assert types == [("a.pdf", "application/pdf"), ("shot.png", "image/png"),
                     ("app.log", "text/plain")]
    assert len(stored_keys(services, ticket["id"])) == 3
    listed = await client.get(f"/tickets/{ticket['id']}/attachments?limit=2", as_=CUSTOMER)
    cursor = listed.json["pagination"]["next_cursor"]
    rest = await client.get(f"/tickets/{ticket['id']}/attachments?cursor={cursor}",
                            as_=CUSTOMER)
    assert len(listed.json["data"]) == 2 and len(rest.json["data"]) == 1


async def test_attachments_by_message(client: Client) -> None:
    ticket = await create_ticket(client)
    message_id = await post_message(client, ticket["id"], as_=CUSTOMER)
    linked = await upload(client, ticket["id"], message_id=message_id)
    assert linked.status == 201 and linked.json["message_id"] == message_id
    await upload(client, ticket["id"], "other.pdf")
    by_message = await client.get(
        f"/tickets/{ticket['id']}/attachments/message/{message_id}", as_=CUSTOMER)
    assert [a["id"] for a in by_message.json["data"]] == [linked.json["id"]]
    unknown = await upload(client, ticket["id"], message_id=str(uuid4()))
    assert unknown.status == 404


async def test_delete_removes_row_and_object(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    item = (await upload(client, ticket["id"])).json
    url = (await client.get(f"/tickets/{ticket['id']}/attachments/{item['id']}/download",
                            as_=CUSTOMER)).json["url"]
    path = f"/tickets/{ticket['id']}/attachments/{item['id']}"
    assert (await client.delete(path, as_=OTHER_CUSTOMER)).status == 404
    deleted = await client.delete(path, as_=CUSTOMER)
    assert deleted.status == 200 and deleted.json["success"] is True
    assert (await client.get(path, as_=CUSTOMER)).status == 404
    assert stored_keys(services, ticket["id"]) == []
    assert (await fetch(client, url))[0] in (403, 404)
    assert (await client.delete(path, as_=CUSTOMER)).status == 404


async def test_only_uploader_or_staff_delete(client: Client) -> None:
    ticket = await create_ticket(client)
    item = (await upload(client, ticket["id"], as_=AGENT)).json
    path = f"/tickets/{ticket['id']}/attachments/{item['id']}"
    assert (await client.delete(path, as_=CUSTOMER)).status == 403
    assert (await client.delete(path, as_=ADMIN)).status == 200


async def test_exe_renamed_pdf_is_415(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    response = await upload(client, ticket["id"], "invoice.pdf", EXE)
    assert response.status == 415 and response.json["error"]["code"] == "unsupported_file_type"
    assert stored_keys(services, ticket["id"]) == []


async def test_empty_file_and_missing_file_are_422(client: Client) -> None:
    ticket = await create_ticket(client)
    assert (await upload(client, ticket["id"], data=b"")).status == 422
    no_file = await client.post(f"/tickets/{ticket['id']}/attachments", as_=CUSTOMER,
                                files={"other": ("x.pdf", PDF, "application/pdf")})
    assert no_file.status == 422
    not_multipart = await client.post(f"/tickets/{ticket['id']}/attachments", as_=CUSTOMER,
                                      json={"file": "x"})
    assert not_multipart.status == 400


async def test_hostile_file_name_is_neutralised(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    boundary = "xyz"
    name = "../../etc/pass\x07wd\u202etxt.exe" + "a" * 300 + ".txt"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n").encode()
    body += b"hello\r\n" + f"--{boundary}--\r\n".encode()
    response = await client.post(
        f"/tickets/{ticket['id']}/attachments", as_=CUSTOMER, content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status == 201, response
    stored = response.json["file_name"]
    assert "/" not in stored and ".." not in stored and "\u202e" not in stored
    assert "\x07" not in stored and len(stored) <= 120 and stored.endswith(".txt")
    assert stored_keys(services, ticket["id"]) == [response.json["file_path"]]
    assert response.json["file_path"].count("/") == 3


async def test_customer_cannot_see_internal_message_attachment(client: Client) -> None:
    ticket = await create_ticket(client)
    internal = await post_message(client, ticket["id"], internal=True)
    staff_only = await upload(client, ticket["id"], as_=AGENT, message_id=internal)
    assert staff_only.status == 201, staff_only
    public = await upload(client, ticket["id"], "public.pdf", as_=AGENT)
    base = f"/tickets/{ticket['id']}/attachments"
    seen = [a["id"] for a in (await client.get(base, as_=CUSTOMER)).json["data"]]
    assert seen == [public.json["id"]]
    hidden = staff_only.json["id"]
    for path in (f"{base}/{hidden}", f"{base}/{hidden}/download"):
        assert (await client.get(path, as_=CUSTOMER)).status == 404
    assert (await client.delete(f"{base}/{hidden}", as_=CUSTOMER)).status == 404
    by_message = await client.get(f"{base}/message/{internal}", as_=CUSTOMER)
    assert by_message.status == 404  # as the note itself (issue 19)
    details = await client.get(f"/tickets/{ticket['id']}", as_=CUSTOMER)
    assert [a["id"] for a in details.json["attachments"]] == [public.json["id"]]
    assert (await upload(client, ticket["id"], message_id=internal)).status == 404
    assert len((await client.get(base, as_=AGENT)).json["data"]) == 2


async def test_other_customer_gets_404(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    item = (await upload(client, ticket["id"])).json
    base = f"/tickets/{ticket['id']}/attachments"
    for path in (base, f"{base}/{item['id']}", f"{base}/{item['id']}/download"):
        assert (await client.get(path, as_=OTHER_CUSTOMER)).status == 404, path
    assert (await upload(client, ticket["id"], as_=OTHER_CUSTOMER)).status == 404
    assert len(stored_keys(services, ticket["id"])) == 1


async def test_closed_ticket_refuses_uploads(client: Client) -> None:
    ticket = await create_ticket(client)
    await client.post(f"/tickets/{ticket['id']}/close", as_=CUSTOMER)
    response = await upload(client, ticket["id"])
    assert response.status == 409 and response.json["error"]["code"] == "ticket_closed"


@pytest.mark.parametrize("settings_env", [LOCAL])  # /files serves the local store only
async def test_local_download_link_rejects_tampering(client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    item = (await upload(client, ticket["id"], "shot.png", PNG)).json
    url = (await client.get(f"/tickets/{ticket['id']}/attachments/{item['id']}/download",
                            as_=CUSTOMER)).json["url"]
    status, body, headers = await fetch(client, url)
    assert status == 200 and body == PNG and headers["content-type"] == "image/png"
    assert headers["content-disposition"].startswith("attachment;")
    assert (await fetch(client, url.replace("signature=", "signature=0")))[0] == 403
    assert (await fetch(client, url.replace("expires=", "expires=1")))[0] == 403
    other_key = url.replace(item["id"], str(uuid4()))
    assert (await fetch(client, other_key))[0] == 403


async def test_status_reports_storage(client: Client) -> None:
    response = await client.get("/status")
    assert response.status == 200 and response.json["storage"] == "connected"
