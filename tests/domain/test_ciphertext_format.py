"""Known-answer tests for the ciphertext blob and the encryption-context encoding."""

from __future__ import annotations

import os
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openkms.crypto import symmetric
from openkms.domain import ciphertext as fmt
from openkms.errors import InvalidCiphertextException

BACKING = bytes(range(32))
KEY_ID = "00000000-0000-4000-8000-000000000001"
NONCE = bytes(range(100, 116))
IV = bytes(range(200, 212))
PLAINTEXT = b"OpenKMS known answer"
CONTEXT = {"purpose": "kat", "a": "b"}
EXPECTED_BLOB = bytes.fromhex(
    "4f01"  # marker 'O', format version 1
    "00000000000040008000000000000001"  # key id
    "00000007"  # key-material version 7
    "6465666768696a6b6c6d6e6f70717273"  # nonce
    "c8c9cacbcccdcecfd0d1d2d3"  # IV
    "344f36352a4254d1e95a5a71df2e0eb549de68c7"  # ciphertext (20 bytes)
    "f37bf6aade1d6d749bc2a8ffe6e99b49"  # tag
)
EXPECTED_CONTEXT = bytes.fromhex(
    "00000002"
    "00000001"
    "61"
    "00000001"
    "62"  # "a" -> "b"
    "00000007"
    "707572706f7365"
    "00000003"
    "6b6174"  # "purpose" -> "kat"
)


def test_context_encoding_known_answer() -> None:
    assert fmt.encode_context(CONTEXT) == EXPECTED_CONTEXT


def test_context_encoding_is_unambiguous() -> None:
    assert fmt.encode_context({"ab": "c"}) != fmt.encode_context({"a": "bc"})
    assert fmt.encode_context({"a": "b", "c": "d"}) != fmt.encode_context({"a": "bcd"})
    assert fmt.encode_context({}) == fmt.encode_context(None) == b"\x00\x00\x00\x00"
    assert fmt.encode_context({"b": "1", "a": "2"}) == fmt.encode_context({"a": "2", "b": "1"})


def test_context_sorts_by_utf8_bytes() -> None:
    # 'é' (U+00E9) sorts after 'z' by UTF-8 bytes.
    encoded = fmt.encode_context({"é": "1", "z": "2"})
    assert encoded.index(b"z") < encoded.index("é".encode())


def test_blob_known_answer() -> None:
    blob = symmetric.encrypt(BACKING, KEY_ID, 7, PLAINTEXT, CONTEXT, nonce=NONCE, iv=IV)
    assert blob == EXPECTED_BLOB


def test_blob_independently_decrypts() -> None:
    """Recompute the derivation and AES-GCM directly from the documented layout."""
    header, sealed = EXPECTED_BLOB[: fmt.HEADER_LEN], EXPECTED_BLOB[fmt.HEADER_LEN :]
    data_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=NONCE, info=b"openkms/v1/symmetric-default"
    ).derive(BACKING)
    assert AESGCM(data_key).decrypt(IV, sealed, header + EXPECTED_CONTEXT) == PLAINTEXT


def test_message_key_is_rfc5869_hkdf() -> None:
    for size in (0, 1, 16, 32, 64):
        for _ in range(20):
            backing, nonce = os.urandom(size) or b"", os.urandom(16)
            reference = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=nonce,
                info=b"openkms/v1/symmetric-default",
            ).derive(backing)
            assert symmetric.message_key(backing, nonce) == reference


def test_parse_writes_key_ids_as_uuid_does() -> None:
    for raw in (bytes(16), b"\xff" * 16, *(os.urandom(16) for _ in range(200))):
        blob = fmt._PREFIX + raw + EXPECTED_BLOB[18:]
        assert fmt.parse(blob).key_id == str(uuid.UUID(bytes=raw))


def test_parse_reads_header_fields() -> None:
    parsed = fmt.parse(EXPECTED_BLOB)
    assert parsed.key_id == KEY_ID and parsed.key_version == 7
    assert parsed.nonce == NONCE and parsed.iv == IV
    assert symmetric.decrypt(BACKING, parsed, CONTEXT) == PLAINTEXT


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        EXPECTED_BLOB[: fmt.MIN_BLOB_LEN - 1],
        b"\x4e" + EXPECTED_BLOB[1:],  # wrong marker
        b"\x4f\x03" + EXPECTED_BLOB[2:],  # unknown version
    ],
)
def test_parse_rejects_malformed(blob: bytes) -> None:
    with pytest.raises(InvalidCiphertextException):
        fmt.parse(blob)


def test_every_changed_byte_fails() -> None:
    for i in range(len(EXPECTED_BLOB)):
        changed = bytearray(EXPECTED_BLOB)
        changed[i] ^= 0x80
        with pytest.raises(InvalidCiphertextException):
            parsed = fmt.parse(bytes(changed))
            if parsed.key_id != KEY_ID or parsed.key_version != 7:
                raise InvalidCiphertextException()  # the service would not find that key
            symmetric.decrypt(BACKING, parsed, CONTEXT)


def test_wrong_context_or_key_fails() -> None:
    parsed = fmt.parse(EXPECTED_BLOB)
    with pytest.raises(InvalidCiphertextException):
        symmetric.decrypt(BACKING, parsed, {"purpose": "kat"})
    with pytest.raises(InvalidCiphertextException):
        symmetric.decrypt(bytes(32), parsed, CONTEXT)


def test_same_plaintext_encrypts_differently() -> None:
    a = symmetric.encrypt(BACKING, KEY_ID, 1, PLAINTEXT, None)
    b = symmetric.encrypt(BACKING, KEY_ID, 1, PLAINTEXT, None)
    assert a != b and a[22:38] != b[22:38]
