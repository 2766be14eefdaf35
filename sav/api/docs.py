"""The browsable API reference, anonymous and offline: `/docs` (Swagger UI over
`/openapi.json`, its files shipped in `sav/api/static/swagger-ui/`, never a CDN),
`/asyncapi.json` and its rendering `/docs/asyncapi` (the RabbitMQ messages)."""

from __future__ import annotations

import functools
import html
import json
from importlib import resources
from typing import Any

import orjson
from sanic import Blueprint, HTTPResponse, Request

from sav.api import http
from sav.api.asyncapi import asyncapi_document
from sav.api.errors import ApiError
from sav.api.openapi import responds
from sav.config import Settings

bp = Blueprint("docs")

ASSET_TYPES = {".js": "application/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".png": "image/png",
               ".txt": "text/plain; charset=utf-8"}
HTML = "text/html; charset=utf-8"
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>SAV API reference</title>
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <p style="font-family: sans-serif; margin: 1em 2em">
    <a href="/openapi.json">openapi.json</a> ·
    <a href="/docs/asyncapi">RabbitMQ messages, SSE streams</a>
    (<a href="/asyncapi.json">asyncapi.json</a>)
  </p>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/docs.js"></script>
</body>
</html>
"""


@functools.cache
def assets() -> dict[str, bytes]:
    """The shipped viewer files by name (read once, from the installed package)."""
    root = resources.files("sav.api") / "static" / "swagger-ui"
    found = {item.name: item.read_bytes() for item in root.iterdir()
             if item.is_file() and "." + item.name.rsplit(".", 1)[-1] in ASSET_TYPES}
    found["docs.js"] = (resources.files("sav.api") / "static" / "docs.js").read_bytes()
    return found


_asyncapi_built: dict[tuple[Any, ...], bytes] = {}


def asyncapi_bytes(settings: Settings) -> bytes:
    """The AsyncAPI document for `settings`, built once per broker, exchange and queue:
    an anonymous caller must not make the server redo it per request."""
    key = (settings.rabbitmq_host, settings.rabbitmq_port, settings.rabbitmq_vhost,
           settings.rabbitmq_exchange, settings.rabbitmq_queue)
    if key not in _asyncapi_built:
        _asyncapi_built[key] = orjson.dumps(asyncapi_document(settings))
    return _asyncapi_built[key]


@bp.get("/docs")
@responds(200, content_type=HTML, description="Swagger UI over /openapi.json")
async def docs_route(request: Request) -> HTTPResponse:
    """The API reference (Swagger UI), anonymous and offline."""
    return HTTPResponse(SWAGGER_PAGE, content_type=HTML, headers=SECURITY_HEADERS)


@bp.get("/docs/assets/<asset:str>")
@responds(200, content_type=tuple(sorted(set(ASSET_TYPES.values()))),
          description="a file of the bundled Swagger UI")
@responds(404)
async def asset_route(request: Request, asset: str) -> HTTPResponse:
    """A file of the reference's viewer (Swagger UI, shipped inside the package)."""
    data = assets().get(asset)
    if data is None:
        raise ApiError(404, "not_found", "no such documentation file")
    kind = ASSET_TYPES["." + asset.rsplit(".", 1)[-1]]
    return HTTPResponse(data, content_type=kind,
                        headers={"Cache-Control": "public, max-age=86400",
                                 "X-Content-Type-Options": "nosniff"})


@bp.get("/asyncapi.json")
@responds(200, content_type="application/json",
          description="the AsyncAPI 3 document of the RabbitMQ messages")
async def asyncapi_route(request: Request) -> HTTPResponse:
    """The AsyncAPI 3 description of every message SAV publishes and consumes."""
    return HTTPResponse(asyncapi_bytes(http.settings(request)), content_type="application/json")


@bp.get("/docs/asyncapi")
@responds(200, content_type=HTML, description="/asyncapi.json as a page")
async def asyncapi_page_route(request: Request) -> HTTPResponse:
    """The RabbitMQ messages and SSE streams, rendered: one section per routing key (per
    stream and SSE event) with its schema."""
    page = asyncapi_page(orjson.loads(asyncapi_bytes(http.settings(request))))
    return HTTPResponse(page, content_type=HTML, headers=SECURITY_HEADERS)


def message_section(name: str, key: str, verb: str, message: dict[str, Any]) -> str:
    schema = json.dumps(message["payload"], indent=2, ensure_ascii=False)
    headers = (f"<h4>headers</h4><pre>{html.escape(json.dumps(message['headers'], indent=2))}"
               "</pre>" if "headers" in message else "")
    return (f'<section id="{name}"><h3><code>{key}</code> — {verb}</h3>'
            f'<p>{html.escape(message.get("description", ""))}</p>'
            f"<h4>payload (JSON Schema)</h4><pre>{html.escape(schema)}</pre>"
            f"{headers}</section>")


def asyncapi_page(document: dict[str, Any]) -> str:
    info = document["info"]
    messages = document["components"]["messages"]
    rows, sections = [], []
    for operation_name, operation in document["operations"].items():
        channel = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[-1]]
        stream = channel.get("servers") == [{"$ref": "#/servers/api"}]
        key = html.escape(channel["address"])
        for ref in operation["messages"]:
            name = ref["$ref"].rsplit("/", 1)[-1]
            message = messages[name]
            verb = (f"SAV streams (SSE event {message['name']})" if stream
                    else "SAV publishes" if operation["action"] == "send" else "SAV consumes")
            name = name if stream else operation_name
            rows.append(f'<tr><td><a href="#{name}"><code>{key}</code></a></td><td>{verb}</td>'
                    f'<td>{html.escape(message.get("summary", ""))}</td></tr>')
            sections.append(message_section(name, key, verb, message))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(info['title'])}</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
            "pre{background:#f4f4f4;padding:1em;overflow:auto;max-height:30em}"
            "td{padding:.2em 1em;vertical-align:top}</style></head><body>"
            f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>"
            f"<p>{html.escape(info['description'])}</p>"
            '<p><a href="/asyncapi.json">asyncapi.json</a> · <a href="/docs">HTTP API</a></p>'
            f"<table>{''.join(rows)}</table>{''.join(sections)}</body></html>")
