"""The symmetric ciphertext blob and the canonical encryption-context encoding.

Blob layout (all integers big-endian)::

    offset  size  field
    0       1     format marker 0x4F ('O')
    1       1     format version: 1, or 2 for a multi-Region key
    2       16    key id: its UUID bytes (1), or the 32 hex digits after ``mrk-`` (2)
    18      4     key-material version (u32)
    22      16    nonce: salt for the per-message key derivation
    38      12    AES-GCM IV
    50      n     AES-GCM ciphertext
    50+n    16    AES-GCM tag

The additional authenticated data is ``header (bytes 0..50) || encode_context(ctx)``.
Decryption reads the marker and version before anything else and names exactly one
key version: there is no trial decryption. The format follows the shape AWS
describes for its own blobs (cleartext header naming the backing key, context as
AAD; "AWS KMS cryptographic details: customer data operations").
"""

from __future__ import annotations

import functools
import struct
import uuid
from collections.abc import Mapping
from typing import NamedTuple

from openkms.domain.identifiers import uuid_text
from openkms.errors import InvalidCiphertextException

MARKER = 0x4F
VERSION = 1
#: The same layout; the key id field holds a multi-Region key id (``mrk-`` + 32 hex
#: digits), which every related key in every Region opens.
VERSION_MULTI_REGION = 2
MULTI_REGION_PREFIX = "mrk-"
KEY_ID_LEN = 16
NONCE_LEN = 16
IV_LEN = 12
TAG_LEN = 16
HEADER_LEN = 2 + KEY_ID_LEN + 4 + NONCE_LEN + IV_LEN
MIN_BLOB_LEN = HEADER_LEN + TAG_LEN
_PREFIX = bytes((MARKER, VERSION))
_MULTI_REGION_PREFIX = bytes((MARKER, VERSION_MULTI_REGION))
_U32 = struct.Struct(">I")


class ParsedCiphertext(NamedTuple):
    """A blob's fields (a named tuple: Decrypt parses its blob twice, when finding the
    key and when opening it)."""

    key_id: str
    key_version: int
    header: bytes
    nonce: bytes
    iv: bytes
    sealed: bytes  # ciphertext || tag


@functools.lru_cache(maxsize=65_536)
def _key_id_bytes(key_id: str) -> bytes:
    """The format prefix and key id field of a blob sealed under ``key_id``."""
    if key_id.startswith(MULTI_REGION_PREFIX):
        raw = bytes.fromhex(key_id[len(MULTI_REGION_PREFIX) :])
        if len(raw) != KEY_ID_LEN:
            raise ValueError("a multi-Region key id has 32 hex digits")
        return _MULTI_REGION_PREFIX + raw
    return _PREFIX + uuid.UUID(key_id).bytes


def build_header(key_id: str, key_version: int, nonce: bytes, iv: bytes) -> bytes:
    if len(nonce) != NONCE_LEN or len(iv) != IV_LEN:
        raise ValueError("nonce and IV have fixed sizes")
    return b"".join((_key_id_bytes(key_id), _U32.pack(key_version), nonce, iv))


def parse(blob: bytes) -> ParsedCiphertext:
    """Split a blob into its parts; any malformation is one opaque InvalidCiphertextException."""
    if len(blob) < MIN_BLOB_LEN:
        raise InvalidCiphertextException()
    prefix = blob[:2]
    if prefix == _PREFIX:
        key_id = uuid_text(blob[2:18])
    elif prefix == _MULTI_REGION_PREFIX:
        key_id = MULTI_REGION_PREFIX + blob[2:18].hex()
    else:
        raise InvalidCiphertextException()
    (version,) = _U32.unpack_from(blob, 18)
    return ParsedCiphertext(
        key_id=key_id,
        key_version=version,
        header=blob[:HEADER_LEN],
        nonce=blob[22:38],
        iv=blob[38:50],
        sealed=blob[HEADER_LEN:],
    )


def encode_context(context: Mapping[str, str] | None) -> bytes:
    """Canonical, unambiguous encoding of an encryption context.

    ``u32 count`` then, sorted by the UTF-8 bytes of the key, ``u32 len(k) || k ||
    u32 len(v) || v`` per pair. Length prefixes make ``{"ab": "c"}`` and
    ``{"a": "bc"}`` encode differently. An absent and an empty context encode alike,
    as AWS treats them alike.
    """
    if not context:
        return b"\x00\x00\x00\x00"
    pairs = sorted((k.encode(), v.encode()) for k, v in context.items())
    parts = [_U32.pack(len(pairs))]
    for k, v in pairs:
        parts += (_U32.pack(len(k)), k, _U32.pack(len(v)), v)
    return b"".join(parts)
