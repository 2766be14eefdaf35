"""What an uploaded attachment is, judged by its bytes, and what to call it.

The client's file name and declared content type are never trusted: the type
comes from magic bytes only, and anything outside the allow-list is refused.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile

PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
BMP = "image/bmp"
TIFF = "image/tiff"
PDF = "application/pdf"
TEXT = "text/plain"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"

_FAMILIES = {
    PDF: "pdf",
    TEXT: "text",
    DOCX: "document",
    DOC: "document",
    ODT: "document",
    XLSX: "spreadsheet",
    XLS: "spreadsheet",
    ODS: "spreadsheet",
    PPTX: "presentation",
    PPT: "presentation",
    ODP: "presentation",
}

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)
# "BM" alone is too weak (any text may start with it), so the DIB header size
# at offset 14 must also be one of the sizes real BMP versions use.
_BMP_DIB_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# OLE2 is also the container of MSI installers and Outlook .msg files, so only
# the stream names of Word, Excel and PowerPoint (UTF-16 in the directory) count.
# Names are matched with their NUL terminator so text inside a stream rarely hits.
_OLE2_STREAMS = (
    ("WordDocument\0".encode("utf-16-le"), DOC),
    ("PowerPoint Document\0".encode("utf-16-le"), PPT),
    ("Workbook\0".encode("utf-16-le"), XLS),
    ("Book\0".encode("utf-16-le"), XLS),
)
_OOXML_PARTS = (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX))
_OPENDOCUMENT_TYPES = frozenset({ODT, ODS, ODP})

# C0/C1 control characters other than the whitespace that logs legitimately use.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_RATIO = 0.01
# Markup a browser could run if the stored type were ever lost or sniffed.
_ACTIVE_MARKUP = re.compile(
    rb"<\s*(html|svg|script|body|iframe|object|embed|!doctype\s+(html|svg))\b", re.IGNORECASE
)
_MARKUP_WINDOW = 4096


def sniff_content_type(data: bytes) -> str | None:
    """The MIME type of ``data`` if it is an allowed attachment, else ``None``."""
    if not data:
        return None
    for sniff in (_sniff_image, _sniff_pdf, _sniff_office, _sniff_text):
        found = sniff(data)
        if found is not None:
            return found
    return None


def file_type_for(mime: str) -> str:
    """The short family shown to users: image, pdf, document, spreadsheet, ..."""
    if mime.startswith("image/"):
        return "image"
    return _FAMILIES.get(mime, "other")


def _sniff_image(data: bytes) -> str | None:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return BMP if _is_bmp(data) else None


def _is_bmp(data: bytes) -> bool:
    if not data.startswith(b"BM") or len(data) < 18:
        return False
    return int.from_bytes(data[14:18], "little") in _BMP_DIB_HEADER_SIZES


def _sniff_pdf(data: bytes) -> str | None:
    return PDF if data.startswith(b"%PDF-") else None


def _sniff_office(data: bytes) -> str | None:
    if data.startswith(_OLE2_MAGIC):
        return _sniff_ole2(data)
    if data.startswith(_ZIP_MAGIC):
        return _sniff_zip(data)
    return None


def _sniff_ole2(data: bytes) -> str | None:
    for stream_name, mime in _OLE2_STREAMS:
        if stream_name in data:
            return mime
    return None


def _sniff_zip(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                return _opendocument_type(archive)
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    return _ooxml_type(names)


def _opendocument_type(archive: zipfile.ZipFile) -> str | None:
    # OpenDocument requires this entry stored and unencrypted, so reading it
    # never runs a decompressor on attacker-chosen data.
    info = archive.getinfo("mimetype")
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return None
    with archive.open(info) as entry:
        declared = entry.read(128).decode("ascii", errors="replace").strip()
    return declared if declared in _OPENDOCUMENT_TYPES else None


def _ooxml_type(names: list[str]) -> str | None:
    # Macro-enabled documents (docm, xlsm, ...) carry a VBA project: refused.
    if "[Content_Types].xml" not in names or any(n.endswith("vbaProject.bin") for n in names):
        return None
    for prefix, mime in _OOXML_PARTS:
        if any(name.startswith(prefix) for name in names):
            return mime
    return None


def _sniff_text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if _has_many_control_chars(text) or _is_active_content(data):
        return None
    return TEXT


def _has_many_control_chars(text: str) -> bool:
    allowed = len(text) * _MAX_CONTROL_RATIO
    # Stop at the first control character over the budget: no list of every match.
    return any(i > allowed for i, _ in enumerate(_CONTROL_CHARS.finditer(text), start=1))


def _is_active_content(data: bytes) -> bool:
    # Only a leading "<" makes a document markup; a log that merely quotes a
    # <script> tag further down stays acceptable.
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip()[:_MARKUP_WINDOW]
    if head.startswith(b"#!"):
        return True
    return head.startswith(b"<") and _ACTIVE_MARKUP.search(head) is not None


_MAX_NAME_CHARS = 120
# Filesystems cap a path component at 255 bytes; unicode letters take up to 4.
_MAX_NAME_BYTES = 240
_MAX_EXTENSION_CHARS = 16
_FALLBACK_NAME = "file"


def safe_file_name(name: str) -> str:
    """A storable version of a client-supplied file name.

    Keeps only the last path component, letters, digits and ``._ -``; drops
    control and bidi-override characters (which can disguise ``exe.pdf``) and
    leading dots; caps the length while keeping the extension; never empty.
    """
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    kept = "".join(_safe_char(char) for char in base if not _is_invisible(char))
    cleaned = kept.strip(" .")
    if not cleaned:
        return _FALLBACK_NAME
    stem, extension = _split_extension(cleaned)
    return _truncate(stem, extension)


def _is_invisible(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Cf"}


def _safe_char(char: str) -> str:
    return char if char.isalnum() or char in "._ -" else "_"


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION_CHARS:
        return name, ""
    return stem, "." + extension


def _truncate(stem: str, extension: str) -> str:
    stem = stem[: _MAX_NAME_CHARS - len(extension)]
    while stem and len((stem + extension).encode("utf-8")) > _MAX_NAME_BYTES:
        stem = stem[:-1]
    stem = stem.rstrip(" .")
    return (stem or _FALLBACK_NAME) + extension
