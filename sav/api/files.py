"""`GET /files/<key>`: downloads for the local-disk blob store, by signed URL only.

With S3/MinIO the presigned URLs point at the bucket and this route answers 404.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from sanic import Blueprint, HTTPResponse, Request

from sav.api import http
from sav.api.errors import ApiError
from sav.projections.attachments import find_by_id
from sav.storage import BlobStoreError, LocalBlobStore
from sav.storage.files import sniff_content_type

bp = Blueprint("files")

_NOT_FOUND = ("not_found", "file not found")


@bp.get("/files/<raw_key:path>")
async def file_route(request: Request, raw_key: str) -> HTTPResponse:
    """Download an attachment through a signed, expiring link (local storage)."""
    # The router hands the path over still percent-encoded; keys never contain "%".
    key = unquote(raw_key)
    store = http.storage(request).blobs
    if not isinstance(store, LocalBlobStore):
        raise ApiError(404, *_NOT_FOUND)
    expires = request.args.get("expires", "")
    signature = request.args.get("signature", "")
    if not store.verify_signed(key, expires, signature):
        raise ApiError(403, "forbidden", "the download link is invalid or has expired")
    try:
        data = await store.read(key)
    except BlobStoreError:  # missing, or a key that could never name a file
        raise ApiError(404, *_NOT_FOUND) from None
    mime = (await stored_mime_type(request, key)
            or await http.command_pool(request).call(sniff_content_type, data))
    return HTTPResponse(data, content_type=mime or "application/octet-stream", headers={
        "Content-Disposition": content_disposition(key.rsplit("/", 1)[-1]),
        # The type was checked on upload; never let a browser guess another one.
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=300",
    })


async def stored_mime_type(request: Request, key: str) -> str | None:
    """The type recorded at upload, found by the attachment id inside the key."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "tickets" or len(parts[2]) > 36:
        return None
    async with http.reads(request).connect() as conn:
        row = await find_by_id(conn, parts[2])
    return str(row.mime_type) if row is not None and row.file_path == key else None


def content_disposition(file_name: str) -> str:
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                       for c in file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"
