"""Validate a parsed AWS JSON 1.1 request body against the KMS model, as AWS does.

AWS (Coral) handles a request body in two phases, and so does :func:`validate`:

1. *Deserialization*: the first member whose JSON type cannot become the model type
   fails the request with ``SerializationException`` (``STRING_VALUE can not be
   converted to an Integer``, ``Start of list found where not expected``, ...), as
   does invalid base64 in a blob member.
2. *Validation*: every violated model constraint (required, length, value range, enum,
   pattern) is collected in model member order into one ``ValidationException``:
   ``2 validation errors detected: Value '<v>' at '<path>' failed to satisfy
   constraint: <rule>; ...``. Paths are lowerCamelCase (``tags.1.member.tagKey``,
   ``encryptionContext.<key>``); sensitive members and blobs are never echoed
   (``Value at 'plaintext' ...``).

Unknown members are ignored and ``null`` equals absent, as at AWS, and :func:`validate`
returns the body the handlers see with exactly that meaning: only members the model defines,
explicit ``null`` members dropped (at every structure level). The AWS JSON 1.1 protocol
serializes a structure as a JSON object of the members that are *set*
(https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html, "Shape serialization");
Smithy server deserializers, AWS's among them, skip members the model does not define
(forward compatibility: a newer SDK's member must not break an older service) and read a
``null`` member as "not set" (only lists and maps marked ``@sparse`` may carry meaningful
nulls, and KMS's model marks none). So ``{"Limit": null}`` is ListKeys' default page, and
``{"GrantTokens": 5}`` on ListKeys (which has no such member) is ignored, never handed to a
handler or to the authorizer; ``{"Limit": 1e300}`` is a number no Integer holds:
``SerializationException`` (``NUMBER_VALUE can not be converted to an Integer``), as below.
Where AWS is stricter than its published model, :data:`CONSTRAINT_OVERRIDES` wins.

This runs on every request, so the botocore shapes are walked once, at import, and compiled
to closures over tuples, frozensets and regexes. ``params`` is never mutated.

Deliberately stricter than AWS: a float for an integer member (AWS truncates), integers
beyond Java's int/long, ``null`` list elements or map values (``Member must not be null``)
and U+0000 in a constrained string (PostgreSQL's text cannot store it; the only
unconstrained ones, encryption context keys and values, are never a column).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from openkms.errors import SerializationException, UnknownOperationException, ValidationException
from openkms.wire.model import input_shape, operation_names

__all__ = ["CHINA_ONLY_VALUES", "CONSTRAINT_OVERRIDES", "validate"]

_log = logging.getLogger(__name__)

#: A compiled check: ``check(value, path, errors)`` appends violation messages to
#: ``errors`` and raises :class:`SerializationException` on a JSON type mismatch.
#: ``value`` is never None (the caller handles absence).
Check = Callable[[object, str, list[str]], None]

#: Builds the value a handler sees from an already validated one: structures keep only
#: their model members, without ``null`` ones. None: the value is used as it is.
Prune = Callable[[Any], Any]

#: Constraint values that replace the model's, keyed by (operation, member path).
#: The member path is the dotted *model* member names from the input structure
#: (``"PendingWindowInDays"``; ``"member"`` steps into a list element and
#: ``"key"``/``"value"`` into a map, e.g. ``"Tags.member.TagKey"``). The value maps a
#: constraint trait (``min``, ``max``, ``pattern``, ``enum``) to its real value. An
#: entry naming no member fails the import, so a typo cannot silently do nothing.
#:
#: An ``enum`` here is AWS's order of the values in its messages, which is neither the
#: model's order nor sorted: recorded from AWS for GenerateMac and VerifyMac (``Member
#: must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224,
#: HMAC_SHA_512]``); where AWS's order is not known, the model's stands.
#: ScheduleKeyDeletion's 7..30 day window (the model says 1..365) is not here, because
#: AWS reports it in its own words ("PendingWindowInDays must be between 7 and 30"), not
#: as a model constraint; the domain enforces it.
_AWS_MAC_ORDER: Final = ("HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224", "HMAC_SHA_512")
#: XksProxyUriEndpoint: AWS's ``https://`` host (no port), or, OpenKMS only, a loopback
#: ``http`` URL with a port, so that local stacks reach an XKS proxy without a certificate.
_XKS_ENDPOINT: Final = r"^https://[a-zA-Z0-9.-]+$|^http://(127\.0\.0\.1|\[::1\]):[0-9]{1,5}$"
CONSTRAINT_OVERRIDES: Final[Mapping[tuple[str, str], Mapping[str, object]]] = {
    ("GenerateMac", "MacAlgorithm"): {"enum": _AWS_MAC_ORDER},
    ("VerifyMac", "MacAlgorithm"): {"enum": _AWS_MAC_ORDER},
    ("CreateCustomKeyStore", "XksProxyUriEndpoint"): {"pattern": _XKS_ENDPOINT},
    ("UpdateCustomKeyStore", "XksProxyUriEndpoint"): {"pattern": _XKS_ENDPOINT},
}

#: Enum values AWS offers only in its China Regions (``cn-*``), by model shape: "SM2 key
#: spec ... available only in China Regions" (Developer Guide, "Key spec reference").
#: Elsewhere AWS's enum has no SM2: a request naming it fails validation like any
#: unknown value, and the enum listed in the message leaves SM2 out.
CHINA_ONLY_VALUES: Final[Mapping[str, frozenset[str]]] = {
    "KeySpec": frozenset({"SM2"}),
    "CustomerMasterKeySpec": frozenset({"SM2"}),
    "DataKeyPairSpec": frozenset({"SM2"}),
}

_UNBOUNDED: Final = sys.maxsize
_LIST_FOUND: Final = "Start of list found where not expected"
_MAP_FOUND: Final = "Start of structure or map found where not expected."
_INT_RANGES: Final = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_TARGETS: Final = {
    "string": "a String", "integer": "an Integer", "long": "a Long", "boolean": "a Boolean",
    "blob": "a Blob", "timestamp": "a Timestamp", "float": "a Float", "double": "a Double",
}  # fmt: skip
_B64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_INDEX: Final = {chr(c): i for i, c in enumerate(_B64_ALPHABET)}


# --- messages -------------------------------------------------------------------------


def _violation(shown: str | None, path: str, rule: str) -> str:
    """One AWS violation; ``shown`` None omits the value (sensitive data, blobs)."""
    value = "Value" if shown is None else f"Value '{shown}'"
    return f"{value} at '{path}' failed to satisfy constraint: {rule}"


def _null_violation(path: str) -> str:
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


#: How deep :func:`_render` follows nested values. A list member's length violation
#: echoes the list, and a body may nest 1,024 levels (orjson's limit): rendered in full
#: that is a RecursionError (a 500) and an unbounded message. Model values of KMS nest
#: at most 3 levels (a list of tag structures), so nothing real is cut.
_RENDER_DEPTH: Final = 8


def _render(value: object, depth: int = 0) -> str:
    """Render a value like Java's ``toString`` (lists ``[a, b]``, maps ``{k=v}``);
    anything nested deeper than :data:`_RENDER_DEPTH` is shown as ``...``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict) and depth >= _RENDER_DEPTH:
        return "..."
    if isinstance(value, list):
        return "[" + ", ".join(_render(v, depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v, depth + 1)}" for k, v in value.items()) + "}"
    return str(value)


def _mismatch(value: object, target: str, scalar: str | None = None) -> SerializationException:
    """The Coral deserializer's error for a JSON ``value`` that is not a ``target``;
    ``scalar`` replaces the message for a scalar found where a list/map/structure is due."""
    if isinstance(value, list):
        return SerializationException(_LIST_FOUND)
    if isinstance(value, dict):
        return SerializationException(_MAP_FOUND)
    if scalar is not None:
        return SerializationException(scalar)
    if isinstance(value, bool):
        token = "TRUE_VALUE" if value else "FALSE_VALUE"
    elif isinstance(value, str):
        token = "STRING_VALUE"
    elif isinstance(value, int | float):
        token = "NUMBER_VALUE"
    else:
        token = type(value).__name__
    return SerializationException(f"{token} can not be converted to {target}")


# --- scalar checks --------------------------------------------------------------------


def _java_length(value: str) -> int:
    """String length as Java counts it (UTF-16 code units), which the model's bounds use."""
    if value.isascii():
        return len(value)
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def _base64_length(value: str, path: str) -> int:
    """Decoded byte length of standard, padded base64 ``value``; raise if it is not that.

    Cheaper than decoding (this runs on every Encrypt/Decrypt): the alphabet check is
    one ``bytes.translate`` and the length is arithmetic.
    """
    n = len(value)
    if not n & 3 and value.isascii():
        rest = value.encode("ascii").translate(None, _B64_ALPHABET)
        if not rest:
            return n // 4 * 3
        # Padding must be trailing, and the last data character's unused bits zero.
        if rest == b"==" and value[-2:] == "==" and not _B64_INDEX[value[-3]] & 0xF:
            return n // 4 * 3 - 2
        if rest == b"=" and value[-1] == "=" and not _B64_INDEX[value[-2]] & 0x3:
            return n // 4 * 3 - 1
    core = value.rstrip("=")
    if n & 3:
        reason = f"Base64 encoded length is expected a multiple of 4 bytes but found: {n}"
    elif n - len(core) > 2 or not core.isascii() or core.encode().translate(None, _B64_ALPHABET):
        reason = "Invalid Base64 character"
    else:
        reason = "Invalid last non-pad Base64 character detected"
    # AWS quotes the offending string here; we never echo blob content.
    raise SerializationException(f"Value at '{path}' can not be converted to a Blob: {reason}")


def _length_rule(lo: int, hi: int, n: int) -> str:
    """The rule a length ``n`` outside ``lo..hi`` breaks."""
    if n < lo:
        return f"Member must have length greater than or equal to {lo}"
    return f"Member must have length less than or equal to {hi}"


def _compile_pattern(pattern: str, where: str) -> re.Pattern[str] | None:
    """Compile a model (Java) regex for full-match use; None if Python's ``re`` cannot.

    re.ASCII: Java's ``\\w``/``\\d``/``\\s`` are ASCII-only. What ``re`` lacks is mainly
    Java's ``\\p{...}`` Unicode properties (they need the third-party ``regex`` module);
    KMS uses none (a test asserts all KMS patterns compile), so such a pattern is skipped
    with a warning rather than refusing to start; its other constraints still apply.
    """
    try:
        return re.compile(pattern, re.ASCII)
    except re.error as exc:
        _log.warning("not enforcing pattern %r of %s: %s", pattern, where, exc)
        return None


def _plain_string(value: object, path: str, errors: list[str]) -> None:
    """A string member without constraints (e.g. encryption context keys and values)."""
    if type(value) is not str and not isinstance(value, str):
        raise _mismatch(value, "a String")


def _string_check(meta: Mapping[str, Any], echo: bool, where: str) -> Check:
    enum, pattern = meta.get("enum"), meta.get("pattern")
    lo, hi = meta.get("min") or 0, meta.get("max", _UNBOUNDED)
    if enum is None and pattern is None and lo == 0 and hi == _UNBOUNDED:
        return _plain_string
    allowed = frozenset(enum) if enum is not None else None
    enum_rule = f"Member must satisfy enum value set: [{', '.join(enum or ())}]"
    rx = _compile_pattern(pattern, where) if pattern is not None else None
    rx_rule = f"Member must satisfy regular expression pattern: {pattern}"

    def check(value: object, path: str, errors: list[str]) -> None:
        if type(value) is not str and not isinstance(value, str):
            raise _mismatch(value, "a String")
        if "\x00" in value:
            errors.append(_violation(None, path, "Member must not contain the null character"))
        if allowed is not None and value not in allowed:
            errors.append(_violation(value if echo else None, path, enum_rule))
        n = _java_length(value)
        if not lo <= n <= hi:
            errors.append(_violation(value if echo else None, path, _length_rule(lo, hi, n)))
        if rx is not None and rx.fullmatch(value) is None:
            errors.append(_violation(value if echo else None, path, rx_rule))

    return check


def _blob_check(meta: Mapping[str, Any]) -> Check:
    lo, hi = meta.get("min") or 0, meta.get("max", _UNBOUNDED)

    def check(value: object, path: str, errors: list[str]) -> None:
        if type(value) is not str and not isinstance(value, str):
            raise _mismatch(value, "a Blob")
        n = _base64_length(value, path)
        if not lo <= n <= hi:
            errors.append(_violation(None, path, _length_rule(lo, hi, n)))

    return check


def _number_check(type_name: str, meta: Mapping[str, Any], echo: bool) -> Check:
    target = _TARGETS[type_name]
    lo, hi = meta.get("min", -math.inf), meta.get("max", math.inf)
    bounds = _INT_RANGES.get(type_name)  # None: floating point

    def check(value: object, path: str, errors: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch(value, target)
        if bounds is not None and (
            not isinstance(value, int) or not bounds[0] <= value <= bounds[1]
        ):
            raise SerializationException(f"NUMBER_VALUE can not be converted to {target}")
        if value < lo:
            rule = f"Member must have value greater than or equal to {lo}"
            errors.append(_violation(_render(value) if echo else None, path, rule))
        elif value > hi:
            rule = f"Member must have value less than or equal to {hi}"
            errors.append(_violation(_render(value) if echo else None, path, rule))

    return check


def _boolean_check(value: object, path: str, errors: list[str]) -> None:
    if not isinstance(value, bool):
        raise _mismatch(value, "a Boolean")


def _timestamp_check(value: object, path: str, errors: list[str]) -> None:
    # AWS JSON 1.1 sends timestamps as epoch seconds (a JSON number).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch(value, "a Timestamp")


# --- aggregate checks -----------------------------------------------------------------


def _list_check(meta: Mapping[str, Any], echo: bool, element: Check) -> Check:
    lo, hi = meta.get("min") or 0, meta.get("max", _UNBOUNDED)

    def check(value: object, path: str, errors: list[str]) -> None:
        if not isinstance(value, list):
            raise _mismatch(value, "", scalar="Expected list or null")
        if not lo <= len(value) <= hi:
            rule = _length_rule(lo, hi, len(value))
            errors.append(_violation(_render(value) if echo else None, path, rule))
        for i, item in enumerate(value, 1):
            if item is None:
                errors.append(_null_violation(f"{path}.{i}.member"))
            else:
                element(item, f"{path}.{i}.member", errors)

    return check


def _map_check(meta: Mapping[str, Any], echo: bool, key: Check, val: Check) -> Check:
    lo, hi = meta.get("min") or 0, meta.get("max", _UNBOUNDED)
    plain = key is _plain_string and val is _plain_string  # no paths needed: skip building them

    def check(value: object, path: str, errors: list[str]) -> None:
        if not isinstance(value, dict):
            raise _mismatch(value, "", scalar="Expected map or null")
        if not lo <= len(value) <= hi:
            rule = _length_rule(lo, hi, len(value))
            errors.append(_violation(_render(value) if echo else None, path, rule))
        for k, item in value.items():
            if plain and type(k) is str and type(item) is str:
                continue
            key(k, f"{path}.key", errors)
            if item is None:
                errors.append(_null_violation(f"{path}.{k}"))
            else:
                val(item, f"{path}.{k}", errors)

    return check


def _struct_check(members: tuple[tuple[str, str, bool, Check], ...]) -> Check:
    """``members``: (JSON name, lowerCamel path name, required, check), in model order."""

    def check(value: object, path: str, errors: list[str]) -> None:
        if not isinstance(value, dict):
            raise _mismatch(value, "", scalar="Expected null")
        prefix = path + "." if path else ""
        for name, camel, required, member_check in members:
            item = value.get(name)
            if item is None:
                if required:
                    errors.append(_null_violation(prefix + camel))
            else:
                member_check(item, prefix + camel, errors)

    return check


# --- compilation ----------------------------------------------------------------------


class _Compiler:
    """Compiles one operation's input shape, applying and accounting for overrides."""

    def __init__(self, operation: str, used_overrides: set[tuple[str, str]], china: bool) -> None:
        self.operation = operation
        self.used = used_overrides
        self.china = china

    def compile(self, shape: Any, where: str, stack: tuple[str, ...] = ()) -> tuple[Check, bool]:
        """Return the shape's check and whether its values may hold sensitive or binary
        data (then violations never echo them). ``where`` is the override member path."""
        if shape.name in stack:
            raise TypeError(f"recursive shape {shape.name} in {self.operation}: not supported")
        stack = (*stack, shape.name)
        meta = dict(shape.metadata)
        override = CONSTRAINT_OVERRIDES.get((self.operation, where))
        if override is not None:
            meta.update(override)
            self.used.add((self.operation, where))
        kind = shape.type_name
        hides = bool(meta.get("sensitive")) or kind == "blob"
        if not self.china and shape.name in CHINA_ONLY_VALUES and "enum" in meta:
            meta["enum"] = [v for v in meta["enum"] if v not in CHINA_ONLY_VALUES[shape.name]]
        if kind == "structure":
            required = set(meta.get("required", ()))
            members = []
            for name, member in shape.members.items():
                check, hidden = self.compile(member, f"{where}.{name}" if where else name, stack)
                members.append((name, name[:1].lower() + name[1:], name in required, check))
                hides |= hidden
            return _struct_check(tuple(members)), hides
        if kind == "list":
            element, hidden = self.compile(shape.member, f"{where}.member", stack)
            return _list_check(meta, not (hides or hidden), element), hides or hidden
        if kind == "map":
            key, key_hidden = self.compile(shape.key, f"{where}.key", stack)
            val, val_hidden = self.compile(shape.value, f"{where}.value", stack)
            hides = hides or key_hidden or val_hidden
            return _map_check(meta, not hides, key, val), hides
        if kind == "string":
            return _string_check(meta, not hides, f"{self.operation}.{where}"), hides
        if kind == "blob":
            return _blob_check(meta), hides
        if kind in _INT_RANGES or kind in ("float", "double"):
            return _number_check(kind, meta, not hides), hides
        simple = {"boolean": _boolean_check, "timestamp": _timestamp_check}.get(kind)
        if simple is None:
            raise TypeError(f"unsupported shape type {kind!r} at {self.operation}.{where}")
        return simple, hides


def _pruner(shape: Any) -> Prune | None:
    """How to reduce a validated value of ``shape`` to its model members (None: nothing
    to do, e.g. scalars and lists or maps of scalars). Recursive shapes were refused by
    the compiler already."""
    kind = shape.type_name
    if kind == "structure":
        members = {name: _pruner(member) for name, member in shape.members.items()}

        def prune_structure(value: Any) -> Any:
            out = {}
            for name, item in value.items():
                if item is None or name not in members:
                    continue
                inner = members[name]
                out[name] = item if inner is None else inner(item)
            return out

        return prune_structure
    if kind == "list":
        element = _pruner(shape.member)
        if element is None:
            return None
        return lambda value: [element(item) for item in value]
    if kind == "map":
        inner = _pruner(shape.value)
        if inner is None:
            return None
        return lambda value: {k: inner(v) for k, v in value.items()}
    return None


def _compile_all(china: bool) -> dict[str, tuple[Check, Prune]]:
    """Every operation's check and pruner, for China Regions (``china``) or the others."""
    used: set[tuple[str, str]] = set()
    compiled: dict[str, tuple[Check, Prune]] = {}
    for operation in sorted(operation_names()):
        shape = input_shape(operation)
        if shape is None:
            compiled[operation] = (_struct_check(()), lambda value: {})
        else:
            check = _Compiler(operation, used, china).compile(shape, "")[0]
            compiled[operation] = (check, cast(Prune, _pruner(shape)))
    unused = set(CONSTRAINT_OVERRIDES) - used
    if unused:
        raise LookupError(f"CONSTRAINT_OVERRIDES name no model member: {sorted(unused)}")
    return compiled


_CHECKS: Final[dict[str, tuple[Check, Prune]]] = _compile_all(china=False)


@functools.cache
def _china_checks() -> dict[str, tuple[Check, Prune]]:
    """Compiled on the first request in a China Region (most servers never see one)."""
    return _compile_all(china=True)


def validate(operation: str, params: dict[str, object], region: str = "") -> dict[str, Any]:
    """Check a parsed request body against ``operation``'s input shape and return the
    members a handler sees: those the model defines, ``null`` ones left out (a new dict;
    ``params`` is not modified). ``region`` is the request's Region: only China Regions
    (``cn-*``) offer :data:`CHINA_ONLY_VALUES`.

    Raises :class:`SerializationException` for a JSON type that cannot become the
    model type (first one found), else :class:`ValidationException` listing every
    constraint violation. Raises :class:`UnknownOperationException` for an operation
    the model does not define.
    """
    compiled = (_china_checks() if region.startswith("cn-") else _CHECKS).get(operation)
    if compiled is None:
        raise UnknownOperationException(f"Unknown operation {operation}")
    check, prune = compiled
    errors: list[str] = []
    check(params, "", errors)
    if errors:
        count = len(errors)
        plural = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {plural} detected: " + "; ".join(errors))
    result: dict[str, Any] = prune(params)
    return result
