"""The XKS proxy's pure rules: the specification's AAD framing and CDIV (its worked
example as a known answer), our ciphertext metadata, secondary authorization and the
identifier formats."""

from __future__ import annotations

import base64

import pytest

from openkms.domain import xks
from openkms.domain.xks import RequestMetadata, XksKey, XksKeyStatus
from openkms.errors.xks import XKSAccessDeniedException, XKSInvalidCiphertextException


def test_cdiv_matches_the_specifications_worked_example() -> None:
    # Appendix C: 33 bytes of AAD, 13 of metadata, 12 of IV, 12 of ciphertext, 16 of tag.
    aad = b"project=nile,department=marketing"
    value = xks.integrity_value(
        aad,
        b"key_version=1",
        base64.b64decode("HMrlRw85cAJUd5Ax"),
        base64.b64decode("ghxkK1txeDNn3q8Y"),
        base64.b64decode("vBxN2ncH1oEkR8WVXpmyYQ=="),
    )
    assert base64.b64encode(value).decode() == "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="


def test_the_aad_framing_has_explicit_lengths() -> None:
    ctm = xks.ciphertext_metadata(1)
    assert xks.framed_aad(b"ab", ctm) == b"\x00\x02ab\x05" + ctm
    assert xks.framed_aad(None, b"") == xks.framed_aad(b"", b"") == b"\x00\x00\x00"
    # The confusion the specification names: metadata moved into the AAD differs.
    assert xks.framed_aad(ctm, b"") != xks.framed_aad(None, ctm)
    assert xks.framed_aad(bytes(300), b"")[:2] == b"\x01\x2c"


def test_ciphertext_metadata_names_format_and_version() -> None:
    assert xks.ciphertext_metadata(7) == b"\x01\x00\x00\x00\x07"
    assert len(xks.ciphertext_metadata(2**32 - 1)) <= xks.MAX_CIPHERTEXT_METADATA
    assert xks.parse_ciphertext_metadata(xks.ciphertext_metadata(7)) == 7
    for bad in (None, b"", b"\x01\x00\x00\x00", b"\x02\x00\x00\x00\x01", b"\x01" + bytes(4)):
        with pytest.raises(XKSInvalidCiphertextException):
            xks.parse_ciphertext_metadata(bad)


def _key(principals: tuple[str, ...] = (), operations: tuple[str, ...] = ()) -> XksKey:
    return XksKey("k", XksKeyStatus.ENABLED, frozenset(), 1, b"", 0.0, principals, operations)


def test_secondary_authorization_allow_lists() -> None:
    alice = RequestMetadata("Encrypt", "r", aws_principal_arn="arn:aws:iam::1:user/alice")
    bob = RequestMetadata("Encrypt", "r", aws_principal_arn="arn:aws:iam::1:user/bob")
    future = RequestMetadata("BulkEncrypt", "r", aws_principal_arn="arn:aws:iam::1:user/alice")
    _key().authorize(future)  # no allow-list: anything, even an unknown operation
    guarded = _key(("arn:aws:iam::1:user/alice",), ("Encrypt",))
    guarded.authorize(alice)
    for refused in (bob, future):
        with pytest.raises(XKSAccessDeniedException):
            guarded.authorize(refused)
    assert alice.as_record() == {
        "awsPrincipalArn": "arn:aws:iam::1:user/alice",
        "kmsOperation": "Encrypt",
        "kmsRequestId": "r",
    }


def test_identifier_formats() -> None:
    assert xks.is_key_id("foo") and xks.is_key_id("a.b_c-D9" * 16)
    assert not xks.is_key_id("") and not xks.is_key_id("a" * 129) and not xks.is_key_id("a/b")
    assert xks.is_access_key_id("BETWEEN2TENAND3TENCHARACTERS")
    assert not xks.is_access_key_id("AKIA0123456789012345") and not xks.is_access_key_id("A" * 19)
    assert xks.is_secret("PleaseReplaceThisWithSomeSecretOfLength43To64")
    assert not xks.is_secret("short") and not xks.is_secret("x" * 42 + "!")
    assert xks.uri_path("") == "/kms/xks/v1"
    assert xks.uri_path("/example/uri/path/prefix/") == "/example/uri/path/prefix/kms/xks/v1"
    assert xks.uri_path("a" * 116) is not None and xks.uri_path("a" * 117) is None
    for bad in ("a//b", "a b", "a.b", "ä"):
        assert xks.uri_path(bad) is None
