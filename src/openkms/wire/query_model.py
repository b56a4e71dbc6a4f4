"""Request members of the AWS query protocol (IAM, STS): decoding and validation.

A query request is a form: ``Action=CreateUser&Version=2010-05-08&UserName=alice&
Tags.member.1.Key=team&Tags.member.1.Value=blue``. Lists are ``Name.member.N`` (or
``Name.N`` when the model says *flattened*), maps ``Name.entry.N.key``/``.value``; an
empty list is sent as ``Name=``. :func:`decode` turns the form into the typed members
of the operation's input shape in botocore's model; :func:`validate` checks them
against the model's constraints (required, length, range, enum, pattern) and reports
every violation in one ``ValidationError`` worded as AWS words it: ``1 validation error
detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy
regular expression pattern: [\\w+=,.@-]+``.

Model patterns are Java regexes. Python's ``re`` lacks Java's ``\\p{L}``-style Unicode
categories, which IAM uses for tag keys and values; they are expanded here into
explicit ranges (built once, on first use, from :mod:`unicodedata`).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
import sys
import unicodedata
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from openkms.errors import ValidationException

Check = Callable[[object, str, list[str]], None]

_INT = re.compile(r"[+-]?\d{1,19}")
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:Z|[+-]00:?00)?")
_PROPERTY = re.compile(r"\\p\{(\w+)\}")
_UNBOUNDED = sys.maxsize


class FormNode:
    """One dotted name of a form: its value (if sent) and the names below it."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, FormNode] = {}


def form_tree(pairs: Mapping[str, str]) -> FormNode:
    root = FormNode()
    for name, value in pairs.items():
        node = root
        for part in name.split("."):
            node = node.children.setdefault(part, FormNode())
        node.value = value
    return root


def _fail(message: str) -> ValidationException:
    return ValidationException(f"1 validation error detected: {message}")


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _indexed(node: FormNode | None) -> list[FormNode]:
    """List items ``1, 2, ...`` in numeric order (other names are ignored)."""
    if node is None:
        return []
    items = [(int(k), v) for k, v in node.children.items() if k.isdigit()]
    return [v for _, v in sorted(items, key=lambda item: item[0])]


def decode(shape: Any, node: FormNode, path: str = "") -> Any:
    """The typed value of ``node`` for a botocore shape (structure at the top level)."""
    kind = shape.type_name
    if kind == "structure":
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            child = node.children.get(member.serialization.get("name", name))
            if child is not None:
                out[name] = decode(
                    member, child, f"{path}.{_camel(name)}" if path else _camel(name)
                )
        return out
    if kind == "list":
        flat = shape.serialization.get("flattened")
        wrap = node if flat else node.children.get(shape.member.serialization.get("name", "member"))
        return [
            decode(shape.member, item, f"{path}.{i}.member")
            for i, item in enumerate(_indexed(wrap), 1)
        ]
    if kind == "map":
        wrap = node if shape.serialization.get("flattened") else node.children.get("entry")
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        result: dict[str, Any] = {}
        for entry in _indexed(wrap):
            k, v = entry.children.get(key_name), entry.children.get(value_name)
            if k is not None and v is not None:
                result[str(decode(shape.key, k, path))] = decode(shape.value, v, path)
        return result
    return _scalar(kind, node.value or "", path)


def _scalar(kind: str, raw: str, path: str) -> Any:
    if kind == "string":
        return raw
    if kind in ("integer", "long"):
        if _INT.fullmatch(raw) is None:
            raise _fail(
                f"Value '{raw}' at '{path}' failed to satisfy constraint: Member must be a number"
            )
        return int(raw)
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise _fail(
                f"Value '{raw}' at '{path}' failed to satisfy constraint: Member must be a boolean"
            )
        return raw.lower() == "true"
    if kind in ("float", "double"):
        try:
            return float(raw)
        except ValueError:
            raise _fail(
                f"Value '{raw}' at '{path}' failed to satisfy constraint: Member must be a number"
            ) from None
    if kind == "timestamp":
        m = _ISO.fullmatch(raw)
        if m is None:
            raise _fail(
                f"Value '{raw}' at '{path}' failed to satisfy constraint: "
                "Member must be a timestamp"
            )
        return float(calendar.timegm(tuple(int(g) for g in m.groups()) + (0, 1, 0)))
    if kind == "blob":
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(
                f"Value at '{path}' failed to satisfy constraint: Member must be base64"
            ) from None
    raise TypeError(f"unsupported shape type {kind!r} at {path}")


# --- validation -----------------------------------------------------------------------


def _violation(value: str | None, path: str, rule: str) -> str:
    shown = "Value" if value is None else f"Value '{value}'"
    return f"{shown} at '{path}' failed to satisfy constraint: {rule}"


def _length_rule(lo: int, hi: int, n: int) -> str:
    if n < lo:
        return f"Member must have length greater than or equal to {lo}"
    return f"Member must have length less than or equal to {hi}"


def _java_length(value: str) -> int:
    return len(value) if value.isascii() else len(value.encode("utf-16-le", "surrogatepass")) // 2


@cache
def _category_ranges(prefix: str) -> str:
    """A character-class body matching every code point whose Unicode category starts
    with ``prefix`` (Java's ``\\p{L}``, ``\\p{Lu}``, ...)."""
    parts: list[str] = []
    start = -1
    for cp in range(sys.maxunicode + 2):
        inside = cp <= sys.maxunicode and unicodedata.category(chr(cp)).startswith(prefix)
        if inside and start < 0:
            start = cp
        elif not inside and start >= 0:
            lo, hi = re.escape(chr(start)), re.escape(chr(cp - 1))
            parts.append(lo if start == cp - 1 else f"{lo}-{hi}")
            start = -1
    return "".join(parts)


def python_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a model (Java) pattern for full-match use, expanding ``\\p{X}``."""
    if "\\p{" not in pattern:
        return re.compile(pattern, re.ASCII)
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        m = _PROPERTY.match(pattern, i)
        if m is not None:
            body = _category_ranges(m.group(1))
            out.append(body if in_class else f"[{body}]")
            i = m.end()
            continue
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        in_class = (in_class or ch == "[") and ch != "]"
        out.append(ch)
        i += 1
    return re.compile("".join(out), re.ASCII)


def compile_check(shape: Any, stack: tuple[str, ...] = ()) -> Check:
    """The constraint check of a shape's decoded values."""
    if shape.name in stack:
        return lambda value, path, errors: None  # recursive shapes: checked one level
    stack = (*stack, shape.name)
    meta = shape.metadata
    kind = shape.type_name
    echo = not meta.get("sensitive")
    lo, hi = meta.get("min") or 0, meta.get("max", _UNBOUNDED)
    if kind == "structure":
        required = set(meta.get("required", ()))
        members = [
            (name, _camel(name), name in required, compile_check(member, stack))
            for name, member in shape.members.items()
        ]

        def check_structure(value: object, path: str, errors: list[str]) -> None:
            assert isinstance(value, dict)
            prefix = f"{path}." if path else ""
            for name, camel, needed, member_check in members:
                item = value.get(name)
                if item is None:
                    if needed:
                        errors.append(
                            f"Value null at '{prefix}{camel}' failed to satisfy "
                            "constraint: Member must not be null"
                        )
                else:
                    member_check(item, prefix + camel, errors)

        return check_structure
    if kind == "list":
        element = compile_check(shape.member, stack)

        def check_list(value: object, path: str, errors: list[str]) -> None:
            assert isinstance(value, list)
            if not lo <= len(value) <= hi:
                rule = _length_rule(lo, hi, len(value))
                errors.append(_violation(None, path, rule))
            for i, item in enumerate(value, 1):
                element(item, f"{path}.{i}.member", errors)

        return check_list
    if kind == "string":
        enum = meta.get("enum")
        pattern = meta.get("pattern")
        rx = python_pattern(pattern) if pattern is not None else None

        def check_string(value: object, path: str, errors: list[str]) -> None:
            assert isinstance(value, str)
            shown = value if echo else None
            if enum is not None and value not in enum:
                rule = f"Member must satisfy enum value set: [{', '.join(enum)}]"
                errors.append(_violation(shown, path, rule))
            n = _java_length(value)
            if not lo <= n <= hi:
                errors.append(_violation(shown, path, _length_rule(lo, hi, n)))
            if rx is not None and rx.fullmatch(value) is None:
                rule = f"Member must satisfy regular expression pattern: {pattern}"
                errors.append(_violation(shown, path, rule))

        return check_string
    if kind in ("integer", "long"):
        low, high = meta.get("min"), meta.get("max")

        def check_number(value: object, path: str, errors: list[str]) -> None:
            assert isinstance(value, int)
            if low is not None and value < low:
                rule = f"Member must have value greater than or equal to {low}"
                errors.append(_violation(str(value) if echo else None, path, rule))
            elif high is not None and value > high:
                rule = f"Member must have value less than or equal to {high}"
                errors.append(_violation(str(value) if echo else None, path, rule))

        return check_number
    return lambda value, path, errors: None


def validate(check: Check, params: dict[str, Any]) -> None:
    errors: list[str] = []
    check(params, "", errors)
    if errors:
        plural = "error" if len(errors) == 1 else "errors"
        raise ValidationException(
            f"{len(errors)} validation {plural} detected: " + "; ".join(errors)
        )
