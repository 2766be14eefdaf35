"""Reading a multipart/form-data upload while it streams in.

Sizes are counted as bytes arrive, so an oversized file is refused (413) as soon as
it crosses the limit, without the rest of it ever being read or anything stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import orjson
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from sanic import Request

from sav.api.errors import ApiError
from sav.commands.attachments import AttachmentTooLargeError, IncomingFile

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

# Headers, boundaries and small fields around the files.
MULTIPART_OVERHEAD = 64 * 1024
MAX_FIELD_BYTES = 1024
MAX_PARTS = 32


@dataclass
class UploadForm:
    files: list[IncomingFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def digest(self) -> str:
        """What the form says, whatever its multipart boundary (a client draws a new one
        on each attempt): compared by `Idempotency-Key` replays."""
        parts = [sorted(self.fields.items()),
                 [(f.file_name, hashlib.sha256(f.data).hexdigest()) for f in self.files]]
        return hashlib.sha256(orjson.dumps(parts)).hexdigest()


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    name: str = ""
    file_name: str | None = None
    keep: bool = False
    data: bytearray = field(default_factory=bytearray)


class _FormReader:
    """python-multipart callbacks that keep the wanted parts within their limits."""

    def __init__(self, file_field: str, text_fields: set[str], max_files: int,
                 max_file_bytes: int) -> None:
        self.file_field, self.text_fields = file_field, text_fields
        self.max_files, self.max_file_bytes = max_files, max_file_bytes
        self.form = UploadForm()
        self.parts = 0
        self.finished = False
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise _bad_request(f"at most {MAX_PARTS} parts per upload")
        self._part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        name = bytes(self._header_name).decode("latin-1").strip().lower()
        self._part.headers[name] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        part = self._part
        # latin-1 maps every byte to one character, so raw UTF-8 names survive parsing.
        kind, params = parse_options_header(
            part.headers.get("content-disposition", b"").decode("latin-1"))
        if kind != b"form-data" or b"name" not in params:
            raise _bad_request("every part needs a form-data Content-Disposition with a name")
        part.name = _text(params[b"name"])
        if b"filename" in params:
            part.file_name = _text(params[b"filename"])
        if part.name == self.file_field and part.file_name is not None:
            if len(self.form.files) >= self.max_files:
                raise ApiError(422, "validation_failed", f"at most {self.max_files} files "
                               "per upload", [{"field": part.name, "message": "too many"}])
            part.keep = True
        else:
            part.keep = part.name in self.text_fields and part.file_name is None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if not part.keep:
            return  # Unknown parts are skipped; they still count towards the body cap.
        part.data += data[start:end]
        if part.file_name is not None and len(part.data) > self.max_file_bytes:
            raise AttachmentTooLargeError(
                f"a file is larger than {self.max_file_bytes} bytes",
                {"field": part.name, "max_bytes": self.max_file_bytes})
        if part.file_name is None and len(part.data) > MAX_FIELD_BYTES:
            raise ApiError(422, "validation_failed", f"{part.name} is too long",
                           [{"field": part.name, "message": "too long"}])

    def on_part_end(self) -> None:
        part = self._part
        if not part.keep:
            return
        if part.file_name is not None:
            self.form.files.append(IncomingFile(part.file_name, bytes(part.data)))
            return
        try:
            self.form.fields[part.name] = part.data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ApiError(422, "validation_failed", f"{part.name} is not UTF-8 text",
                           [{"field": part.name, "message": "not UTF-8"}]) from None

    def on_end(self) -> None:
        self.finished = True


async def read_upload_form(request: Request, *, file_field: str, text_fields: set[str],
                           max_files: int, max_file_bytes: int) -> UploadForm:
    """Stream the body through the multipart parser; 413 as soon as a limit is crossed."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise _bad_request("expected a multipart/form-data body")
    cap = max_files * (max_file_bytes + MULTIPART_OVERHEAD)
    _check_declared_length(request, cap)
    reader = _FormReader(file_field, text_fields, max_files, max_file_bytes)
    try:
        parser = MultipartParser(boundary, _callbacks(reader))
        received = 0
        async for chunk in request.stream:  # type: ignore[union-attr]
            received += len(chunk)
            if received > cap:
                raise AttachmentTooLargeError(f"the upload is larger than {cap} bytes",
                                              {"max_bytes": cap})
            parser.write(chunk)
        parser.finalize()
    except (MultipartParseError, ValueError):
        raise _bad_request("malformed multipart body") from None
    if not reader.finished or parser.state != MultipartState.END:
        raise _bad_request("the multipart body is truncated")
    request.ctx.upload_digest = reader.form.digest()
    return reader.form


def _check_declared_length(request: Request, cap: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise AttachmentTooLargeError(f"the upload is larger than {cap} bytes",
                                      {"max_bytes": cap})


def _callbacks(reader: _FormReader) -> MultipartCallbacks:
    names = ("on_part_begin", "on_header_field", "on_header_value", "on_header_end",
             "on_headers_finished", "on_part_data", "on_part_end", "on_end")
    return cast("MultipartCallbacks", {name: getattr(reader, name) for name in names})


def _text(raw: bytes) -> str:
    # parse_options_header hands back the header's bytes; browsers send UTF-8 names.
    return raw.decode("utf-8", errors="replace")


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)
