"""`/docs`: the API reference, anonymous and offline (every file it loads is served by SAV
itself, from the package), with the AsyncAPI document beside it."""

from __future__ import annotations

import re

from tests.support.http import Client


async def test_docs_page_is_anonymous_and_loads_nothing_from_elsewhere(client: Client) -> None:
    page = await client.get("/docs")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert loaded and all(url.startswith("/") for url in loaded), loaded
    for url in loaded:
        asset = await client.get(url)
        assert asset.status == 200, url
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in bundle.body and len(bundle.body) > 500_000
    head = await client.request("HEAD", "/docs")
    assert head.status == 200 and head.body == b""
    starter = (await client.get("/docs/assets/docs.js")).body.decode()
    assert '"/openapi.json"' in starter and "validatorUrl: null" in starter


async def test_unknown_documentation_files_are_404(client: Client) -> None:
    for name in ("nope.js", "..%2Fdocs.py", "swagger-ui-bundle.js.map", "VERSION"):
        response = await client.get(f"/docs/assets/{name}")
        assert response.status == 404, name
        assert response.json["error"]["code"] == "not_found"


async def test_asyncapi_is_served_anonymously_and_rendered_beside_the_docs(
        client: Client) -> None:
    document = await client.get("/asyncapi.json")
    assert document.status == 200 and document.json["asyncapi"] == "3.0.0"
    page = await client.get("/docs/asyncapi")
    assert page.status == 200
    html = page.body.decode()
    for channel in document.json["channels"].values():
        assert f"<code>{channel['address']}</code>" in html
    assert "SAV consumes" in html and "SAV publishes" in html
    openapi = (await client.get("/openapi.json")).json
    assert "/asyncapi.json" in openapi["info"]["description"]
