"""Grant ids and tokens: round trips, uniqueness, and every malformed token refused."""

from __future__ import annotations

import base64

import pytest

from openkms.domain import grant_tokens as tokens
from openkms.errors import InvalidGrantTokenException

GRANT_ID = "ab" * 32


def test_tokens_name_their_grant_and_differ_per_mint() -> None:
    first = tokens.mint_token(GRANT_ID, b"\x01" * 16)
    second = tokens.mint_token(GRANT_ID, b"\x02" * 16)
    assert first != second
    assert tokens.parse_token(first) == tokens.parse_token(second) == GRANT_ID
    assert len(first) <= 8192 and first.isascii() and "=" not in first


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


GOOD = tokens.mint_token(GRANT_ID, b"\x07" * 16)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "not a token",
        GOOD + "=",
        GOOD + "A",
        GOOD[:-1],
        GOOD[:10] + "." + GOOD[11:],
        GOOD.replace("-", "+").replace("_", "/") if ("-" in GOOD or "_" in GOOD) else GOOD + "+",
        _flip(GOOD, 0),  # version
        _flip(GOOD, 5),  # grant id
        _flip(GOOD, 40),  # nonce
        _flip(GOOD, 52),  # checksum
        "ü" * 10,
        base64.urlsafe_b64encode(b"\x01" + bytes(52)).rstrip(b"=").decode(),
    ],
)
def test_malformed_tokens_are_refused(token) -> None:
    with pytest.raises(InvalidGrantTokenException) as exc:
        tokens.parse_token(token)
    assert (
        exc.value.message
        == "The request was rejected because the specified grant token is not valid."
    )


def test_check_tokens() -> None:
    tokens.check_tokens([GOOD, tokens.mint_token("cd" * 32, bytes(16))])
    with pytest.raises(InvalidGrantTokenException):
        tokens.check_tokens([GOOD, "junk"])


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (GRANT_ID, True),
        ("0" * 64, True),
        ("AB" * 32, False),
        ("ab" * 31, False),
        ("g" * 64, False),
        ("", False),
    ],
)
def test_grant_ids(value, valid) -> None:
    assert tokens.is_grant_id(value) is valid


def test_new_grant_ids_are_64_hex() -> None:
    assert tokens.is_grant_id(tokens.new_grant_id(bytes(range(32))))
    with pytest.raises(ValueError):
        tokens.new_grant_id(b"short")
