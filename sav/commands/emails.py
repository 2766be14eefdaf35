"""E-mail addresses as every request takes them: one pattern, which `/openapi.json` shows
and the validator applies as written (issue 19: the document says what is accepted).

A dot-atom local part of ASCII characters at a domain of LDH labels (at most 63
characters each) whose last is alphabetic; an internationalised domain goes in its
`xn--` form; 254 characters in all. The special-use names of RFC 6761 (`.test`,
`.invalid`, `.localhost`, `.local`, `.onion`, `.arpa`) are refused: no mail reaches them,
and a contact there is a mistake to report, not to keep. The domain is kept in lower case
(`Ann@Example.COM` is `Ann@example.com`: erasure by e-mail finds both).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
MAX_LENGTH = 254


def _any_case(word: str) -> str:
    return "".join(f"[{letter}{letter.upper()}]" for letter in word)


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_RESERVED = "|".join(_any_case(word) for word in SPECIAL_USE)
# Written for both ECMA-262 (the document's dialect) and Python's `re`.
EMAIL_PATTERN = (rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+"
                 rf"(?!(?:{_RESERVED})$)[A-Za-z]{{2,63}}$")
_EMAIL = re.compile(EMAIL_PATTERN)


def normalised_email(value: Any) -> Any:
    """The address with its domain in lower case; ValueError when the pattern refuses it
    (anything but a string is left to the `str` check)."""
    if not isinstance(value, str):
        return value
    if len(value) > MAX_LENGTH or not _EMAIL.match(value):
        raise ValueError("not an e-mail address this service takes: ASCII, at a public "
                         "domain (the pattern in /openapi.json)")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


Email = Annotated[str, BeforeValidator(normalised_email), WithJsonSchema({
    "type": "string", "format": "email", "maxLength": MAX_LENGTH, "pattern": EMAIL_PATTERN,
    "description": "an ASCII address (an internationalised domain in its `xn--` form); "
    "special-use domains (`.test`, `.invalid`, `.localhost`, `.local`, `.onion`, "
    "`.arpa`) are refused"})]
