"""The shared loaded-key type: its own module, so asymmetric.py and mac.py need not
import each other (issue 11 broke that cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import openkms.crypto
from openkms.crypto import asymmetric, mac
from openkms.crypto.loaded import LoadedKey
from openkms.errors import UnsupportedOperationException

CRYPTO = Path(openkms.crypto.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, TYPE_CHECKING blocks included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_mac_does_not_import_asymmetric() -> None:
    assert "openkms.crypto.asymmetric" not in _imported_modules(CRYPTO / "mac.py")


def test_loaded_imports_neither_asymmetric_nor_mac() -> None:
    imported = _imported_modules(CRYPTO / "loaded.py")
    assert not imported & {"openkms.crypto.asymmetric", "openkms.crypto.mac"}


def test_hmac_key_loads_into_the_shared_type_and_hides_material() -> None:
    material = mac.new_key("HMAC_256")
    key = asymmetric.load_private_key("HMAC_256", material)
    assert isinstance(key, LoadedKey)
    assert key.hmac_key == material and key.private is None and key.public is None
    assert material.hex() not in repr(key) and repr(key) == "LoadedKey(spec='HMAC_256')"
    with pytest.raises(UnsupportedOperationException):
        key.public_key_der()
    assert mac.generate_mac(key, "HMAC_SHA_256", b"m") != b""


def test_asymmetric_key_has_both_halves() -> None:
    key = asymmetric.load_private_key(
        "ECC_NIST_P256", asymmetric.generate_private_key("ECC_NIST_P256")
    )
    assert key.private is not None and key.public is not None and key.hmac_key == b""
    assert key.public_key_der().startswith(b"\x30")
