"""Key identifiers as callers write them: key id, key ARN, alias name, alias ARN.

AWS accepts all four for most operations ("Key identifiers (KeyId)",
https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

from openkms.errors import NotFoundException

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MRK = re.compile(r"mrk-[0-9a-f]{32}")
_ARN = re.compile(r"arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):(key|alias)/(.+)")


def uuid_text(raw: bytes) -> str:
    """``str(uuid.UUID(bytes=raw))`` for 16 bytes (8-4-4-4-12 lower-case hex digits),
    without making a UUID object (a third of the cost, on every Decrypt and request id)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RefKind(StrEnum):
    KEY = "key"
    ALIAS = "alias"


class KeyRef(NamedTuple):
    """A parsed identifier. ``account``/``region`` are None when the caller's own apply.
    (A named tuple: one is made per request naming a key, at a third of a frozen
    dataclass's cost.)"""

    kind: RefKind
    name: str  # key id, or alias name including the 'alias/' prefix
    account: str | None
    region: str | None
    raw: str

    @property
    def is_arn(self) -> bool:
        return self.account is not None


def is_key_id(value: str) -> bool:
    return _UUID.fullmatch(value) is not None or _MRK.fullmatch(value) is not None


_MATERIAL_ID = re.compile(r"[0-9a-f]{64}")


def is_key_material_id(value: str) -> bool:
    """KeyMaterialId: 64 lower-case hex digits."""
    return _MATERIAL_ID.fullmatch(value) is not None


def parse_key_ref(value: str) -> KeyRef:
    """Parse any of the four forms; anything else is AWS's NotFoundException 'Invalid keyId'."""
    if value.startswith("alias/"):
        return KeyRef(RefKind.ALIAS, value, None, None, value)
    if value.startswith("arn:"):
        m = _ARN.fullmatch(value)
        if m is not None:
            _, region, account, kind, rest = m.groups()
            if kind == "alias":
                return KeyRef(RefKind.ALIAS, "alias/" + rest, account, region, value)
            if is_key_id(rest):
                return KeyRef(RefKind.KEY, rest, account, region, value)
        raise NotFoundException(f"Invalid arn {value}")
    if is_key_id(value):
        return KeyRef(RefKind.KEY, value, None, None, value)
    raise NotFoundException(f"Invalid keyId '{value}'")


def alias_arn(region: str, account: str, alias_name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:{alias_name}"
