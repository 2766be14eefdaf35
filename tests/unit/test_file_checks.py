"""Attachments are typed by their bytes and stored under a harmless name."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

from sav.storage.files import file_type_for, safe_file_name, sniff_content_type

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00;"
WEBP = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"
    b"/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)
TIFF = b"II*\x00\x08\x00\x00\x00\x00\x00"
BMP = (
    b"BM" + struct.pack("<IHHI", 58, 0, 0, 54) + struct.pack("<IiiHH", 40, 1, 1, 1, 24) + bytes(28)
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + bytes(48)
WINDOWS_EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(44) + b"PE\x00\x00"
)


def zip_of(entries: dict[str, bytes], stored_first: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if stored_first is not None:
            archive.writestr(stored_first, entries.pop(stored_first), zipfile.ZIP_STORED)
        for name, body in entries.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def ooxml(part_dir: str, *extra: str) -> bytes:
    entries = {
        "[Content_Types].xml": b"<?xml version='1.0'?><Types/>",
        "_rels/.rels": b"<Relationships/>",
        f"{part_dir}/main.xml": b"<document/>",
    }
    entries.update({name: b"\x00" for name in extra})
    return zip_of(entries)


def ole2_with_stream(name: str) -> bytes:
    # Header signature, then a directory entry whose name is UTF-16 with a NUL.
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    entry = (name + "\0").encode("utf-16-le").ljust(64, b"\x00") + bytes(64)
    return header + entry


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (png_bytes(), "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (TIFF, "image/tiff"),
        (BMP, "image/bmp"),
        (PDF, "application/pdf"),
    ],
    ids=["png", "jpeg", "gif", "webp", "tiff", "bmp", "pdf"],
)
def test_images_and_pdfs_are_recognised_by_magic_bytes(data: bytes, mime: str) -> None:
    assert sniff_content_type(data) == mime


@pytest.mark.parametrize(
    ("part_dir", "mime"),
    [("word", DOCX), ("xl", XLSX), ("ppt", PPTX)],
    ids=["docx", "xlsx", "pptx"],
)
def test_office_open_xml_documents_are_recognised_by_their_zip_entries(
    part_dir: str, mime: str
) -> None:
    assert sniff_content_type(ooxml(part_dir)) == mime


def test_macro_enabled_office_documents_are_rejected() -> None:
    assert sniff_content_type(ooxml("word", "word/vbaProject.bin")) is None


def test_opendocument_text_is_recognised_by_its_mimetype_entry() -> None:
    odt = zip_of({"mimetype": ODT.encode(), "content.xml": b"<office/>"}, stored_first="mimetype")
    assert sniff_content_type(odt) == ODT


def test_zip_claiming_an_unknown_opendocument_type_is_rejected() -> None:
    fake = zip_of({"mimetype": b"application/java-archive"}, stored_first="mimetype")
    assert sniff_content_type(fake) is None


@pytest.mark.parametrize(
    ("stream", "mime"),
    [
        ("WordDocument", "application/msword"),
        ("Workbook", "application/vnd.ms-excel"),
        ("PowerPoint Document", "application/vnd.ms-powerpoint"),
    ],
)
def test_legacy_office_files_are_recognised_by_their_ole2_streams(stream: str, mime: str) -> None:
    assert sniff_content_type(ole2_with_stream(stream)) == mime


def test_ole2_container_without_office_streams_is_rejected() -> None:
    # e.g. an MSI installer shares the container format.
    assert sniff_content_type(ole2_with_stream("SummaryInformation")) is None


@pytest.mark.parametrize(
    "data",
    [
        zip_of({"invoice.exe": WINDOWS_EXE, "readme.txt": b"hi"}),
        zip_of({"[Content_Types].xml": b"<Types/>", "payload.bin": b"x"}),
        b"PK\x03\x04 not really a zip",
        ELF,
        WINDOWS_EXE,
        bytes(range(256)),
        b"\x00\x01\x02\x03garbage\xfe\xff",
        b"",
    ],
    ids=["plain-zip", "content-types-only", "broken-zip", "elf", "mz", "junk", "nul", "empty"],
)
def test_archives_executables_and_binary_junk_are_rejected(data: bytes) -> None:
    assert sniff_content_type(data) is None


@pytest.mark.parametrize(
    "text",
    [
        b"<!DOCTYPE html><html><body>hi</body></html>",
        b"  \n<HTML><script>alert(1)</script></HTML>",
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
        b"<script>fetch('/steal')</script>",
        b"\xef\xbb\xbf<svg onload=alert(1)>",
        b"#!/bin/sh\nrm -rf /\n",
    ],
    ids=["html", "html-upper", "svg-with-prolog", "script", "svg-after-bom", "shebang"],
)
def test_markup_and_scripts_are_rejected_even_though_they_are_text(text: bytes) -> None:
    assert sniff_content_type(text) is None


@pytest.mark.parametrize(
    "text",
    [
        b"2024-01-15 10:30:00 ERROR payment failed\n\tat Checkout.pay()\r\n",
        b"order_id,amount\n123,45.00\n",
        "Colis reçu abîmé, merci de me rembourser €\n".encode(),
        b"\xef\xbb\xbfBOM-prefixed export\n",
        b"GET /search?q=<script> 400\n",
    ],
    ids=["log", "csv", "utf8-accents", "bom", "log-quoting-markup"],
)
def test_plain_text_logs_and_csv_are_accepted(text: bytes) -> None:
    assert sniff_content_type(text) == "text/plain"


def test_text_full_of_control_characters_is_rejected() -> None:
    assert sniff_content_type(b"abc\x01\x02\x03\x04\x05def") is None


def test_invalid_utf8_is_rejected() -> None:
    assert sniff_content_type(b"caf\xe9 latin-1\n") is None


@pytest.mark.parametrize(
    ("mime", "family"),
    [
        ("image/png", "image"),
        ("application/pdf", "pdf"),
        (DOCX, "document"),
        ("application/msword", "document"),
        (XLSX, "spreadsheet"),
        (PPTX, "presentation"),
        ("text/plain", "text"),
    ],
)
def test_file_type_for_gives_the_family(mime: str, family: str) -> None:
    assert file_type_for(mime) == family


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("C:\\Users\\me\\photo 1.JPG", "photo 1.JPG"),
        ("report\x00.pdf", "report.pdf"),
        ("in\x1bvoice\n.pdf", "invoice.pdf"),
        (".htaccess", "htaccess"),
        ("...", "file"),
        ("", "file"),
        ("/", "file"),
        ("facture été.pdf", "facture été.pdf"),
        ("a<b>|c?.txt", "a_b__c_.txt"),
        ("innocent\u202egnp.exe", "innocentgnp.exe"),
    ],
)
def test_safe_file_name_strips_paths_and_dangerous_characters(name: str, safe: str) -> None:
    assert safe_file_name(name) == safe


def test_long_names_are_cut_to_120_characters_keeping_the_extension() -> None:
    safe = safe_file_name("x" * 500 + ".pdf")
    assert len(safe) == 120
    assert safe.endswith(".pdf")


def test_long_unicode_names_fit_a_filesystem_path_component() -> None:
    safe = safe_file_name("日" * 200 + ".txt")
    assert safe.endswith(".txt")
    assert len(safe.encode()) <= 255
