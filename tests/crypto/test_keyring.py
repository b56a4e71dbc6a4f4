"""The software root keyring."""

from __future__ import annotations

import pytest

from openkms.crypto.keyring import (
    SoftwareKeyring,
    UnwrapError,
    new_root_key,
    root_key_from_passphrase,
)


def test_wrap_round_trip_and_binding() -> None:
    ring = SoftwareKeyring(new_root_key())
    wrapped = ring.wrap(b"secret material", b"key-1:1")
    assert b"secret material" not in wrapped
    assert ring.unwrap(wrapped, b"key-1:1") == b"secret material"
    with pytest.raises(UnwrapError):
        ring.unwrap(wrapped, b"key-2:1")  # moved to another row
    with pytest.raises(UnwrapError):
        SoftwareKeyring(new_root_key()).unwrap(wrapped, b"key-1:1")  # another root key
    tampered = bytearray(wrapped)
    tampered[-1] ^= 1
    with pytest.raises(UnwrapError):
        ring.unwrap(bytes(tampered), b"key-1:1")
    with pytest.raises(UnwrapError):
        ring.unwrap(b"X" + wrapped[1:], b"key-1:1")


def test_root_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        SoftwareKeyring(b"short")


def test_passphrase_derivation_is_deterministic_per_salt() -> None:
    a = root_key_from_passphrase("correct horse", b"s" * 16)
    assert a == root_key_from_passphrase("correct horse", b"s" * 16)
    assert a != root_key_from_passphrase("correct horse", b"t" * 16)
    assert a != root_key_from_passphrase("wrong horse", b"s" * 16)
    assert len(a) == 32
