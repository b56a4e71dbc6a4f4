"""Known answers for every keyring binding label (the AAD that ties a sealed secret to
its owner). Existing databases hold values sealed under exactly these bytes: a label
that changes by one byte makes every such value fail to unseal. Each label is pinned
twice: its exact bytes, and a value sealed under it by a fixed root key, which must
still unseal (so a label and the keyring's use of it stay as they were)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

import openkms
from openkms.crypto import contexts
from openkms.crypto.keyring import SoftwareKeyring, UnwrapError
from openkms.server import bootstrap, cloudtrail_api
from openkms.service.kms.ops import imports

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT_KEY = bytes(range(32))

#: name -> (how the label is built, its exact bytes, a value sealed under it
#: by ROOT_KEY whose plaintext is b"secret-" + name).
LABELS: dict[str, tuple[Callable[[], bytes], bytes, str]] = {
    "key_material": (
        lambda: contexts.key_material(KEY_ID, 3),
        b"kms-key-material:1234abcd-12ab-34cd-56ef-1234567890ab:3",
        "57014f862bf4696d63708c777ad3ecdf3ce000b10600f533f4dbba9e6547035029384b446277ca8af63a"
        "334115578e1b75",
    ),
    "access_key_secret": (
        lambda: contexts.access_key_secret("AKIAEXAMPLE"),
        b"access-key-secret:AKIAEXAMPLE",
        "57019730f37f9a26a61b91cf49dbe1b1560d7ffd4edfe111875490677b74023308e0e3ec48cc5f241e7e"
        "90b8ee89ac936d9458160c4d",
    ),
    "session_secret": (
        lambda: contexts.session_secret("ASIAEXAMPLE"),
        b"sts-session-secret:ASIAEXAMPLE",
        "57017b3e226746f58354fa9a8724e723a7c4de1fbe740e3597dd86f51ff249b7a3ecea951490a832658b"
        "0a5c0ab4d49c3c0d7a",
    ),
    "import_token": (
        lambda: contexts.IMPORT_TOKEN,
        b"kms-import-token",
        "57017ec23fa666c22700d7d5be4594bb04f89b09776f35cc74ae3dad386be03d7e431aea446e75e570f1"
        "275ea0a8aa97ab",
    ),
    "import_wrapping_key": (
        lambda: contexts.import_wrapping_key("tok-1", KEY_ID),
        b"kms-import-wrapping-key:tok-1:1234abcd-12ab-34cd-56ef-1234567890ab",
        "5701471a2b17a1aeb2a86d6878c9700031939f2529e0eda792a10ff4676df303c9a821f0b8b6d2273a62"
        "f1f9969c6001c26020c8fb1c6e5e",
    ),
    "audit_signing_key": (
        lambda: contexts.AUDIT_SIGNING_KEY,
        b"audit-signing-key",
        "5701d7eed1fac5ec4e177cbee8430bfbe6037424d5c6228bba8d91bc100b1656c32b6ebeab024e049cd2"
        "4a4ec386eb53acd99664ef0d",
    ),
    "root_key_check": (
        lambda: contexts.ROOT_KEY_CHECK,
        b"openkms-root-key-check",
        "5701a205983a323ce38cda254b851896429f3b05ba979d986254ee2d3bee8a208d45e4ac07b7ed343485"
        "4b41e6ab385ef8d479",
    ),
    "fingerprint_key": (
        lambda: contexts.FINGERPRINT_KEY,
        b"openkms-fingerprint-key",
        "5701ef024098f52d2b21f2d01c72f00ce7ab356c65b34bc43fa1f77cf74866b5c92b1c83a52ae701a393"
        "9e5e46c9dd2f55718934",
    ),
    "lookup_token": (
        lambda: contexts.lookup_token(
            cloudtrail_api._binding("111122223333", None, None, None, None, None)
        ),
        b'openkms-cloudtrail-lookup-token/1\x00["111122223333", null, null, null, null, null]',
        "5701a2b54c7f06b08884dfc9c9d344a17e8743ea2d02120c7e50172ea95dc2109b63b94d56255a138d84"
        "ca76e104a279f9",
    ),
    "xks_key_material": (
        lambda: contexts.xks_key_material("foo"),
        b"xks-key-material:foo",
        "5701169f80bde60228028591cc2bd3e444567f4dc3ec443b23ccdbb3c5365ab2478f25801a6feb641ddf"
        "1555063fd593ca1ef4a627",
    ),
    "xks_credential_secret": (
        lambda: contexts.xks_credential_secret("BETWEEN2TENAND3TENCHARACTERS"),
        b"xks-credential-secret:BETWEEN2TENAND3TENCHARACTERS",
        "5701956b79f13faf78795263a17b445d8a65aa8d33d5bf7ba739cc2b3d99f5c664bb0c5fe749091ff0c5"
        "151c68045e1dc6d8737783885c8d20cb",
    ),
}


@pytest.mark.parametrize("name", sorted(LABELS))
def test_label_bytes_are_pinned(name: str) -> None:
    build, expected, _ = LABELS[name]
    assert build() == expected


@pytest.mark.parametrize("name", sorted(LABELS))
def test_value_sealed_under_the_label_still_unseals(name: str) -> None:
    build, _, sealed = LABELS[name]
    keyring = SoftwareKeyring(ROOT_KEY)
    assert keyring.unwrap(bytes.fromhex(sealed), build()) == b"secret-" + name.encode()


def test_labels_are_distinct_so_a_value_cannot_move_between_owners() -> None:
    keyring = SoftwareKeyring(ROOT_KEY)
    built = {name: build() for name, (build, _, _) in LABELS.items()}
    assert len(set(built.values())) == len(built)
    _, _, sealed = LABELS["access_key_secret"]
    with pytest.raises(UnwrapError):
        keyring.unwrap(bytes.fromhex(sealed), built["session_secret"])


def test_imported_material_id_is_pinned() -> None:
    """The imported-material id is a keyring fingerprint under its own label; ids already
    stored must be recomputed identically."""
    keyring = SoftwareKeyring(ROOT_KEY)
    call = SimpleNamespace(keyring=keyring, service=SimpleNamespace(keyring=keyring))
    key = SimpleNamespace(key_id=KEY_ID, public_id=KEY_ID)
    found = imports.imported_material_id(call, key, b"material")  # type: ignore[arg-type]
    assert found == "f8e0a5458d38052e9a4c458d3839e6bd61707c0d3d43c53a68b9db8e36415cea"


def test_the_root_key_check_uses_its_label() -> None:
    assert bootstrap._CHECK_CONTEXT == contexts.ROOT_KEY_CHECK


#: The fixed part of each label; none may be spelled out anywhere but crypto/contexts.py.
_FIXED_PARTS = [
    "kms-key-material",
    "kms-imported-material",
    "kms-import-token",
    "kms-import-wrapping-key",
    "access-key-secret",
    "sts-session-secret",
    "audit-signing-key",
    "openkms-root-key-check",
    "openkms-fingerprint-key",
    "openkms-cloudtrail-lookup-token",
    "xks-key-material",
    "xks-credential-secret",
]


def test_labels_are_spelled_only_in_contexts() -> None:
    src = Path(openkms.__file__).parent
    pattern = re.compile("|".join(rf"(?<![\w-]){re.escape(part)}\b" for part in _FIXED_PARTS))
    found = {
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    }
    assert found == {"crypto/contexts.py"}
