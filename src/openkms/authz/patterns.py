"""Wildcard patterns of the IAM policy language, compiled once to linear-time matchers.

Three matching rules, each as AWS documents it:

* **Action** ("IAM JSON policy elements: Action"): ``*`` and ``?`` anywhere; "The prefix
  and the action name are case insensitive". Pattern and value are both lower-cased
  (action names are ASCII: ``document._ACTION`` admits only ``[A-Za-z0-9*?_.-]``).
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

Why not regular expressions: a pattern is attacker-chosen (key policies, session
policies) and so is the value (``kms:EncryptionContext:<k>``, resource names). A
backtracking regex for ``*a*a*a*a*b`` or ``*/*/*/*.log`` takes exponential time on a
value that almost matches (issue 10: one CreateKey took 8 s, one Encrypt 38 s). The
matcher here is the classic greedy wildcard algorithm, without a per-character Python
loop: runs of ``*`` are collapsed, so a pattern is ``head * s1 * s2 ... * tail`` where
each segment has a fixed width; ``head`` must match at the start, ``tail`` at the end,
and each ``s_i`` is matched at its *leftmost* occurrence after the previous one (taking
a later occurrence can only leave less room for the rest, so a greedy leftmost choice
never needs to be undone). Each segment is looked up once, left to right, by ``str.find``
or, for a segment holding ``?``, by a fixed-width regex (literal runs and ``.{n}``; no
alternation and no variable-count repeat, so nothing to backtrack into). The cost is
O(len(value) + len(pattern)) for patterns of ``*`` and literals, and at worst
O(len(value) × literal runs in one ``?`` segment) when ``?`` sits between literals.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

Piece = tuple[str, bool]

_ARN_COMPONENTS = 6
_STAR = object()  # a run of '*' in a tokenised pattern
_ANY = object()  # one '?'
_Token = str | object


@dataclass(frozen=True, slots=True)
class _Segment:
    """Fixed-width text between two runs of ``*``; ``?`` matches any one character.

    Leading and trailing ``?`` only shift and bound the search, so the lookup is for the
    *core* between them: plain text (``str`` operations) unless a ``?`` sits inside it.
    """

    width: int  # the whole segment
    lead: int  # leading '?'
    trail: int  # trailing '?'
    core: str  # text, or the source of ``finder``
    finder: re.Pattern[str] | None  # None when the core has no '?'

    def at(self, value: str, pos: int, end: int) -> bool:
        """Does the segment match at ``pos``? (The caller checked ``pos + width <= end``.)"""
        if self.finder is None:
            return value.startswith(self.core, pos + self.lead, end)
        return self.finder.match(value, pos + self.lead, end) is not None

    def find(self, value: str, pos: int, end: int) -> int:
        """The leftmost match in ``value[pos:end]``, or -1."""
        start, stop = pos + self.lead, end - self.trail
        if self.finder is None:
            found = value.find(self.core, start, stop)
        else:
            hit = self.finder.search(value, start, stop)
            found = -1 if hit is None else hit.start()
        return found - self.lead if found >= 0 else -1


@dataclass(frozen=True, slots=True)
class _Span:
    """A wildcard pattern over one stretch of the value: ``head * middle... * tail``."""

    head: _Segment
    middle: tuple[_Segment, ...]
    tail: _Segment | None  # None when the pattern has no '*': head is the whole pattern
    min_width: int
    anything: bool  # the pattern is just '*'

    def matches(self, value: str, start: int, end: int) -> bool:
        if self.anything:
            return True
        head, tail = self.head, self.tail
        if tail is None:
            return end - start == head.width and head.at(value, start, end)
        if end - start < self.min_width or not head.at(value, start, end):
            return False
        limit = end - tail.width
        if not tail.at(value, limit, end):
            return False
        pos = start + head.width
        for segment in self.middle:
            found = segment.find(value, pos, limit)
            if found < 0:
                return False
            pos = found + segment.width
        return True


@dataclass(frozen=True, slots=True)
class Glob:
    """One compiled pattern: for an ARN pattern, one span per component before the fifth
    colon and one for the resource part; otherwise a single span for the whole value."""

    components: tuple[_Span, ...]  # the first five ARN components, or ()
    rest: _Span  # the resource part of an ARN, or the whole value

    def matches(self, value: str) -> bool:
        start = 0
        for span in self.components:
            colon = value.find(":", start)
            if colon < 0 or not span.matches(value, start, colon):
                return False
            start = colon + 1
        return self.rest.matches(value, start, len(value))


@dataclass(frozen=True, slots=True)
class Globs:
    """Alternative patterns: does a value match any of them? Wildcard-free patterns are
    looked up in a set."""

    exact: frozenset[str]
    globs: tuple[Glob, ...]
    ignore_case: bool

    def matches(self, value: str) -> bool:
        if self.ignore_case:
            value = value.lower()
        if value in self.exact:
            return True
        for glob in self.globs:
            if glob.matches(value):
                return True
        return False


def compile_globs(
    patterns: Iterable[Sequence[Piece]], *, arn: bool = False, ignore_case: bool = False
) -> Globs | None:
    """A matcher for any of ``patterns``; ``None`` for an empty list."""
    exact: set[str] = set()
    globs: list[Glob] = []
    for pieces in patterns:
        compiled = compile_glob(tuple(pieces), arn=arn, ignore_case=ignore_case)
        if isinstance(compiled, str):
            exact.add(compiled)
        else:
            globs.append(compiled)
    if not exact and not globs:
        return None
    return Globs(frozenset(exact), tuple(globs), ignore_case)


@lru_cache(maxsize=4096)
def compile_glob(pieces: tuple[Piece, ...], *, arn: bool, ignore_case: bool) -> Glob | str:
    """The pattern as a :class:`Glob`, or as plain text when it has no wildcard."""
    tokens = _tokens(pieces, ignore_case)
    if not any(t is _STAR or t is _ANY for t in tokens):
        return "".join(t for t in tokens if isinstance(t, str))
    if arn and tokens.count(":") >= _ARN_COMPONENTS - 1:
        components: list[list[_Token]] = [[]]
        for token in tokens:
            if token == ":" and len(components) < _ARN_COMPONENTS:
                components.append([])
            else:
                components[-1].append(token)
        spans = [_span(c) for c in components]
        return Glob(tuple(spans[:-1]), spans[-1])
    return Glob((), _span(tokens))


def _tokens(pieces: tuple[Piece, ...], ignore_case: bool) -> list[_Token]:
    """Characters of the pattern; a run of wildcard ``*`` becomes one ``_STAR``."""
    tokens: list[_Token] = []
    for text, wild in pieces:
        for ch in text.lower() if ignore_case else text:
            if wild and ch == "*":
                if not tokens or tokens[-1] is not _STAR:
                    tokens.append(_STAR)
            elif wild and ch == "?":
                tokens.append(_ANY)
            else:
                tokens.append(ch)
    return tokens


def _span(tokens: list[_Token]) -> _Span:
    segments: list[list[_Token]] = [[]]
    for token in tokens:
        if token is _STAR:
            segments.append([])
        else:
            segments[-1].append(token)
    built = [_segment(s) for s in segments]
    width = sum(s.width for s in built)
    if len(built) == 1:
        return _Span(built[0], (), None, width, False)
    return _Span(built[0], tuple(built[1:-1]), built[-1], width, tokens == [_STAR])


def _segment(tokens: list[_Token]) -> _Segment:
    width = len(tokens)
    lead = next((i for i, t in enumerate(tokens) if t is not _ANY), width)
    trail = next((i for i, t in enumerate(reversed(tokens)) if t is not _ANY), width - lead)
    core = tokens[lead : width - trail]
    if all(isinstance(t, str) for t in core):
        text = "".join(t for t in core if isinstance(t, str))
        return _Segment(width, lead, trail, text, None)
    source = "".join(_regex_runs(core))
    return _Segment(width, lead, trail, source, re.compile(source, re.DOTALL))


def _regex_runs(tokens: list[_Token]) -> Iterator[str]:
    """Literal runs escaped; a run of n ``?`` as ``.`` or ``.{n}`` (one step for sre)."""
    for literal, group in itertools.groupby(tokens, key=lambda t: isinstance(t, str)):
        run = list(group)
        if literal:
            yield re.escape("".join(t for t in run if isinstance(t, str)))
        else:
            yield "." if len(run) == 1 else f".{{{len(run)}}}"


def is_arn(value: str) -> bool:
    """Whether ``value`` has the shape ``arn:partition:service:region:account:resource``."""
    return value.startswith("arn:") and value.count(":") >= 5


def wild(text: str) -> tuple[Piece, ...]:
    """The pieces of a pattern written without policy variables."""
    return ((text, True),)
