"""`GET /openapi.json` describes every route, with request bodies, and is valid OpenAPI."""

from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate

from sav.api.app import create_app
from sav.api.health import openapi_document
from sav.config import load_settings


def test_openapi_document_is_valid_and_complete(tmp_path: Path) -> None:
    app = create_app(load_settings({"SAV_DATA_DIR": str(tmp_path), "AUTH_JWT_SECRET": "x" * 40}))
    document = openapi_document(app)
    validate(document)
    routes = {
        ("/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", route.path).lstrip("/"), method.lower())
        for route in app.router.routes for method in route.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented
    create = document["paths"]["/tickets"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"subject", "description"}
    assert "security" in create and "security" not in document["paths"]["/health"]["get"]
    upload = document["paths"]["/tickets/{ticket_ref}/attachments"]["post"]["requestBody"]
    assert "multipart/form-data" in upload["content"]


def test_history_and_time_travel_are_documented_with_their_query_parameters(
        tmp_path: Path) -> None:
    app = create_app(load_settings({"SAV_DATA_DIR": str(tmp_path), "AUTH_JWT_SECRET": "x" * 40}))
    paths = openapi_document(app)["paths"]

    def query(path: str) -> dict[str, dict[str, object]]:
        return {p["name"]: p for p in paths[path]["get"]["parameters"] if p["in"] == "query"}

    history = query("/tickets/{ticket_ref}/history")
    assert set(history) == {"limit", "cursor"}
    assert history["limit"]["schema"]["maximum"] == 100
    ticket = query("/tickets/{ticket_ref}")
    assert set(ticket) == {"version", "as_of"}
    assert ticket["as_of"]["schema"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert not any(p["required"] for p in (*history.values(), *ticket.values()))
