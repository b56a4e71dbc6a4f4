"""Wildcard patterns of the IAM policy language, compiled once to regular expressions.

Three matching rules, each as AWS documents it:

* **Action** ("IAM JSON policy elements: Action"): ``*`` and ``?`` anywhere; "The prefix
  and the action name are case insensitive".
* **StringLike** ("IAM JSON policy elements: Condition operators"): "Case-sensitive
  matching. The values can include multi-character match wildcards (*) and
  single-character match wildcards (?) anywhere in the string."
* **ARNs** (``Resource``, ``ArnEquals``/``ArnLike``): "Each of the six colon-delimited
  components of the ARN is checked separately and each can include multi-character match
  wildcards (*) or single-character match wildcards (?)". A wildcard in the first five
  components therefore never crosses a colon; the sixth component (the resource part) is
  everything after the fifth colon and may itself contain colons. A pattern with fewer
  than six components (``*``, ``arn:aws:kms:*``) is matched as a plain wildcard string.

A pattern is given as *pieces* ``(text, wild)``: ``wild`` pieces treat ``*``/``?`` as
wildcards; other pieces (substituted policy variables, ``${*}``) are literal text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

Piece = tuple[str, bool]

_FLAGS = re.DOTALL


def glob_regex(pieces: Iterable[Piece], *, arn: bool = False) -> str:
    """Translate pattern pieces into the body of a regular expression (no anchors)."""
    pieces = tuple(pieces)
    segmented = arn and sum(text.count(":") for text, _ in pieces) >= 5
    colons = 0
    out: list[str] = []
    for text, wild in pieces:
        for ch in text:
            if ch == ":":
                colons += 1
                out.append(":")
            elif wild and ch in "*?":
                one = "[^:]" if segmented and colons < 5 else "."
                out.append(one + "*" if ch == "*" else one)
            else:
                out.append(re.escape(ch))
    return "".join(out)


def compile_alternatives(
    bodies: Sequence[str], *, ignore_case: bool = False
) -> re.Pattern[str] | None:
    """One regex that fully matches any of ``bodies``; ``None`` for an empty list."""
    if not bodies:
        return None
    return _compile("|".join(f"(?:{b})" for b in bodies), ignore_case)


@lru_cache(maxsize=2048)
def _compile(source: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(source, _FLAGS | (re.IGNORECASE if ignore_case else 0))


def is_arn(value: str) -> bool:
    """Whether ``value`` has the shape ``arn:partition:service:region:account:resource``."""
    return value.startswith("arn:") and value.count(":") >= 5


def wild(text: str) -> tuple[Piece, ...]:
    """The pieces of a pattern written without policy variables."""
    return ((text, True),)
