"""End to end: the real `sav` console script, a real server over HTTP, on both profiles."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from sav.config import Settings
from tests.support.live_server import live_server, secretless_env

SAV = [sys.executable, "-m", "sav.cli"]


def sav(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([*SAV, *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def server(settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    with live_server(settings, env=secretless_env(settings)) as live:
        yield live.base_url, live.env


def test_new_user_flow_with_tokens_from_the_cli(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    customer = sav(env, "token", "--sub", "cust-1", "--role", "customer",
                   "--email", "c@x.io").strip()
    agent = sav(env, "token", "--sub", "agent-1", "--role", "agent").strip()
    as_customer = {"Authorization": f"Bearer {customer}"}
    as_agent = {"Authorization": f"Bearer {agent}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        created = http.post("/tickets", headers=as_customer, json={
            "subject": "Order not received", "description": "Parcel #42", "priority": "high"})
        assert created.status_code == 201, created.text
        number = created.json()["ticket_number"]
        assert [t["ticket_number"] for t in http.get("/tickets", headers=as_customer)
                .json()["data"]] == [number]
        assigned = http.post(f"/tickets/{number}/assign", headers=as_agent,
                             json={"agent_id": "agent-1"})
        assert assigned.json()["status"] == "assigned"
        resolved = http.post(f"/tickets/{number}/resolve", headers=as_agent,
                             json={"resolution": "Refund issued"})
        assert resolved.json()["status"] == "resolved"
        closed = http.post(f"/tickets/{number}/close", headers=as_customer)
        assert closed.status_code == 200 and closed.json()["status"] == "closed"
        assert http.get("/tickets", headers={"Authorization": "Bearer x"}).status_code == 401
        assert http.get("/status").json()["database"] == "connected"
        spec = http.get("/openapi.json").json()
        assert "/tickets/{ticket_ref}/assign" in spec["paths"]


def test_replay_and_export_from_the_cli(server: tuple[str, dict[str, str]],
                                        settings: Settings) -> None:
    base, env = server
    token = sav(env, "token", "--sub", "cust-9", "--role", "customer").strip()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        for i in range(3):
            assert http.post("/tickets", headers=headers, json={
                "subject": f"S{i}", "description": "d"}).status_code == 201
        before = http.get("/tickets", headers=headers).json()["data"]
    replayed = subprocess.run([*SAV, "replay"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    assert "rebuilt read model from 3 events" in replayed.stdout
    assert "\r" not in replayed.stderr  # not a terminal: no progress bar in the log
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/tickets", headers=headers).json()["data"] == before
    lines = sav(env, "events", "export", "--after", "1").splitlines()
    records = [orjson.loads(line) for line in lines]
    assert [r["position"] for r in records] == [2, 3]
    assert records[0]["event"] == "ticket.created" and records[0]["data"]["subject"] == "S1"
    csv_out = sav(env, "events", "export", "--format", "csv")
    assert csv_out.splitlines()[0] == "position,message_id,event,timestamp,data"


def test_token_rejects_unknown_role(settings: Settings, tmp_path: Path) -> None:
    result = subprocess.run([*SAV, "token", "--sub", "x", "--role", "root"],
                            env=secretless_env(settings), capture_output=True, text=True)
    assert result.returncode != 0


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


def test_download_url_points_at_the_serving_port(server: tuple[str, dict[str, str]]) -> None:
    """`sav serve --port P` (not APP_PORT): local download links must reach this server."""
    base, env = server
    token = sav(env, "token", "--sub", "cust-7", "--role", "customer").strip()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        ticket = http.post("/tickets", headers=headers,
                           json={"subject": "Photo", "description": "see file"}).json()
        uploaded = http.post(f"/tickets/{ticket['id']}/attachments", headers=headers,
                             files={"file": ("shot.png", PNG, "image/png")})
        assert uploaded.status_code == 201, uploaded.text
        link = http.get(f"/tickets/{ticket['id']}/attachments/{uploaded.json()['id']}/download",
                        headers=headers).json()
        assert link["url"].startswith(base + "/files/")
        assert httpx.get(link["url"], timeout=10).content == PNG
