"""Grant ids and grant tokens.

A grant id is 64 lower-case hex characters (32 random bytes), as AWS's are.

Grant tokens are opaque to callers. Ours are base64url (unpadded) of a version byte, the
grant id, a random nonce and a 4-byte checksum, so that every CreateGrant call returns a
new token ("the returned grant token is unique with every CreateGrant request, even when
a duplicate GrantId is returned. All grant tokens for the same grant ID can be used
interchangeably", CreateGrant API reference). Tokens are not secrets ("a unique,
nonsecret, variable-length, base64-encoded string that represents a grant"): a token
names a grant, and the grant's principals decide what its bearer may do. The checksum
only tells a mistyped or foreign token (InvalidGrantTokenException) from ours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence

from openkms.errors import InvalidGrantTokenException

_GRANT_ID = re.compile(r"[0-9a-f]{64}")
TOKEN_VERSION = 1
_NONCE_BYTES = 16
_CHECK_BYTES = 4
_TOKEN_BYTES = 1 + 32 + _NONCE_BYTES + _CHECK_BYTES


def is_grant_id(value: str) -> bool:
    return _GRANT_ID.fullmatch(value) is not None


def new_grant_id(random: bytes) -> str:
    """A grant id from 32 random bytes."""
    if len(random) != 32:
        raise ValueError("a grant id takes 32 random bytes")
    return random.hex()


def _checksum(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()[:_CHECK_BYTES]


def mint_token(grant_id: str, nonce: bytes) -> str:
    """A new grant token for ``grant_id`` (``nonce``: 16 random bytes)."""
    if not is_grant_id(grant_id) or len(nonce) != _NONCE_BYTES:
        raise ValueError("a grant token needs a grant id and a 16-byte nonce")
    return _encode(bytes([TOKEN_VERSION]) + bytes.fromhex(grant_id) + nonce)


def _encode(body: bytes) -> str:
    return base64.urlsafe_b64encode(body + _checksum(body)).rstrip(b"=").decode("ascii")


def parse_token(token: str) -> str:
    """The grant id a token names. Anything we did not mint is InvalidGrantTokenException."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _invalid_token() from None
    if len(raw) != _TOKEN_BYTES or raw[0] != TOKEN_VERSION:
        raise _invalid_token()
    body, check = raw[:-_CHECK_BYTES], raw[-_CHECK_BYTES:]
    # Re-encoding must give the token back: no padding games, no ignored characters.
    if check != _checksum(body) or _encode(body) != token:
        raise _invalid_token()
    return body[1:33].hex()


def check_tokens(tokens: Sequence[str]) -> None:
    """GrantTokens of a request must all be tokens we minted."""
    for token in tokens:
        parse_token(token)


def _invalid_token() -> InvalidGrantTokenException:
    return InvalidGrantTokenException(
        "The request was rejected because the specified grant token is not valid."
    )
