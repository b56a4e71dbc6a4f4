"""The envelope of a key in an external key store's blob (the XKS proxy's layer of
double encryption): it round-trips every field, and every malformation is one opaque
InvalidCiphertextException."""

from __future__ import annotations

import pytest

from openkms.domain.xks_ciphertext import ProxyCiphertext, envelope, parse_envelope
from openkms.errors import InvalidCiphertextException


@pytest.mark.parametrize("iv_len", [12, 16])
@pytest.mark.parametrize("metadata", [None, b"v1", bytes(range(20))])
def test_round_trip(iv_len: int, metadata: bytes | None) -> None:
    sealed = ProxyCiphertext(b"c" * 33, b"i" * iv_len, b"t" * 16, metadata)
    data = envelope(sealed)
    assert data[0] == 1 and parse_envelope(data) == sealed


def test_known_layout() -> None:
    data = envelope(ProxyCiphertext(b"CT", b"\x01" * 12, b"\x02" * 16, b"m"))
    assert data == b"\x01\x0c" + b"\x01" * 12 + b"\x01m" + b"\x02" * 16 + b"CT"


def test_what_cannot_be_written() -> None:
    with pytest.raises(ValueError):
        envelope(ProxyCiphertext(b"c", b"i" * 13, b"t" * 16, None))
    with pytest.raises(ValueError):
        envelope(ProxyCiphertext(b"c", b"i" * 12, b"t" * 16, b"m" * 21))
    with pytest.raises(ValueError):
        envelope(ProxyCiphertext(b"c", b"i" * 12, b"t" * 15, None))


def test_malformed_envelopes() -> None:
    good = envelope(ProxyCiphertext(b"CT", b"\x01" * 12, b"\x02" * 16, b"m"))
    for bad in (
        b"",
        b"\x01",
        b"\x02" + good[1:],  # an unknown envelope version
        good[:1] + b"\x0d" + good[2:],  # an IV length the specification does not allow
        good[:14] + b"\x15" + good[15:],  # ciphertextMetadata over 20 bytes
        good[: -len(b"CT")],  # no ciphertext left
        good[:20],  # cut inside the tag
    ):
        with pytest.raises(InvalidCiphertextException):
            parse_envelope(bad)
