"""Request strings may not carry the null character (U+0000).

PostgreSQL's ``text`` cannot hold it: a key description, a tag, a custom key store name
or a lookup by such a string failed there as a database error (HTTP 500), while SQLite
stored it. One rule for every backend: a string member with U+0000 is a
ValidationException before anything is looked up or written. ``EncryptionContext`` is
exempt: it is authenticated data, never a column, and reaches the audit trail only as
escaped JSON (a grant's ``Constraints`` are stored, so they are checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openkms.errors import ValidationException

#: Members whose strings are never stored as text or used in a lookup.
EXEMPT = frozenset({"EncryptionContext"})


def refuse_nul(params: Mapping[str, Any]) -> None:
    """Raise ValidationException naming the first member whose strings hold U+0000."""
    for name, value in params.items():
        if name not in EXEMPT and _holds_nul(value):
            raise ValidationException(
                f"1 validation error detected: Value at '{name[:1].lower()}{name[1:]}' "
                "failed to satisfy constraint: Member must not contain the null character "
                "(U+0000)"
            )


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False
