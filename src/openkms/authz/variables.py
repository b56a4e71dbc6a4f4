"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/x}``, ``${*}``, defaults.

Implements "IAM policy elements: Variables and tags"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html):

* Variables exist only in policies whose ``Version`` is ``2012-10-17``: "If you don't
  include the Version element and set it to an appropriate version date, variables like
  ``${aws:username}`` are treated as literal strings in the policy."
* ``${key}`` is replaced by the value of the request-context key ``key``; "Key names are
  case-insensitive".
* ``${*}``, ``${?}`` and ``${$}`` stand for a literal ``*``, ``?`` and ``$``.
* "To add a default value to a variable, surround the default value with single quotes
  (' '), and separate the variable text and the default value with a comma and space":
  ``${aws:userid, 'anonymous'}``. Inside the quotes, ``''`` stands for one quote.
* "If AWS cannot resolve a variable, this might cause the entire statement to be
  invalid." Here a value (a Resource pattern or a condition value) whose variable has no
  value and no default matches nothing; see :meth:`Template.resolve`.

Text that only looks like a variable (``${``, no closing brace, a malformed default) is
literal text, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from openkms.authz.patterns import Piece

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_NAME_AND_DEFAULT = re.compile(r"\s*([^\s,'{}]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")
_ESCAPES = frozenset("*?$")

Lookup = Callable[[str], object]
"""Returns the request-context value for a lower-cased key, or ``None``."""


@dataclass(frozen=True, slots=True)
class Variable:
    name: str  # lower-cased key name
    default: str | None


@dataclass(frozen=True, slots=True)
class Escaped:
    char: str


@dataclass(frozen=True, slots=True)
class Template:
    """A policy string split into literal text, escapes and variables."""

    text: str
    parts: tuple[str | Variable | Escaped, ...]

    @property
    def static(self) -> bool:
        return not any(isinstance(p, Variable) for p in self.parts)

    def resolve(self, lookup: Lookup) -> tuple[Piece, ...] | None:
        """Pieces with every variable substituted, or ``None`` if one has no value."""
        pieces: list[Piece] = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append((part, True))
            elif isinstance(part, Escaped):
                pieces.append((part.char, False))
            else:
                value = scalar_text(lookup(part.name))
                if value is None:
                    value = part.default
                if value is None:
                    return None
                pieces.append((value, False))
        return tuple(pieces)

    def literal(self) -> str:
        """The text with escapes applied; only meaningful when :attr:`static`."""
        return "".join(
            p if isinstance(p, str) else p.char for p in self.parts if isinstance(p, str | Escaped)
        )


def parse_template(text: str, *, variables: bool) -> Template:
    """Split ``text`` into parts; with ``variables=False`` (2008-10-17) it stays literal."""
    if not variables or "${" not in text:
        return Template(text, (text,) if text else ())
    parts: list[str | Variable | Escaped] = []
    pos = 0
    for match in _VARIABLE.finditer(text):
        inner = match.group(1)
        part: Variable | Escaped | None
        if inner in _ESCAPES:
            part = Escaped(inner)
        else:
            nd = _NAME_AND_DEFAULT.fullmatch(inner)
            if nd is None:
                continue  # not a variable: stays literal text
            default = nd.group(2)
            part = Variable(
                nd.group(1).lower(), default.replace("''", "'") if default is not None else None
            )
        if match.start() > pos:
            parts.append(text[pos : match.start()])
        parts.append(part)
        pos = match.end()
    if pos < len(text):
        parts.append(text[pos:])
    return Template(text, tuple(_merge_literals(parts)))


def _merge_literals(parts: list[str | Variable | Escaped]) -> list[str | Variable | Escaped]:
    merged: list[str | Variable | Escaped] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def scalar_text(value: object) -> str | None:
    """A context value as the string a variable or string operator sees; ``None`` if none.

    Multi-valued keys (lists) have no single value and do not resolve a variable.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return None
