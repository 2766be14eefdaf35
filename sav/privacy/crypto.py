"""AES-GCM for fields and for wrapping data keys (the `cryptography` package)."""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class MasterKeyError(ValueError):
    """The master key is malformed, or cannot unwrap the key store's keys."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def new_master_key() -> str:
    """What `sav privacy new-master-key` prints: 32 random bytes, base64."""
    return base64.b64encode(new_key()).decode()


def parse_master_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError("SAV_MASTER_KEY must be base64 (sav privacy new-master-key)") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"SAV_MASTER_KEY must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def seal(cipher: AESGCM, plain: bytes, aad: bytes) -> bytes:
    """nonce ‖ ciphertext+tag, with a fresh random nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plain, aad)


def open_sealed(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    """Raises `InvalidTag` when the key or the associated data is not the one used."""
    return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)


def wrap(kek: AESGCM, key: bytes, key_id: str) -> bytes:
    return seal(kek, key, b"sav-data-key:" + key_id.encode())


def unwrap(kek: AESGCM, wrapped: bytes, key_id: str) -> bytes:
    try:
        return open_sealed(kek, wrapped, b"sav-data-key:" + key_id.encode())
    except InvalidTag:
        raise MasterKeyError(
            f"SAV_MASTER_KEY cannot unwrap data key {key_id}: wrong master key "
            "for this key store") from None
