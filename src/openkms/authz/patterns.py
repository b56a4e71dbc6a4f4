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
never needs to be undone). Each segment is looked up once, left to right.

A segment of plain text is found by ``str.find``: linear. A segment with ``?`` between
literal characters (``a?b??c``) cannot be: a regex search for ``a.b.{2}c`` retries at
every position, O(window x core), and a 2048-character session policy against a 1 MiB
encryption context took over a second of CPU with the GIL held. Such a *core* is found
by :meth:`_Segment._scan`, chunk by chunk (doubling up to 64 Ki characters, so a match
near the start costs little), each chunk by the cheaper of:

* sre, when its cost is bounded by a few steps per character: a short chunk (the hot
  path: a key id, a short encryption context value), or one where the core's first
  literal run is rare (sre skips to it with a KMP table and runs the rest of the core
  only there; ``str.count`` tells how rare, about 1 ns per character);
* a bit-parallel scan with Python integers (:mod:`openkms.authz.bitscan`): bit ``i`` of a
  candidate set stands for "a match may start at ``i``"; each literal ``c`` at offset
  ``j`` of the core keeps the starts where ``window[i + j] == c``, one shift and one AND
  against the positions of ``c``, built at C speed (``bytes.translate`` to ``0``/``1``
  digits, ``int(digits, 2)``; a non-ASCII window as the three byte lanes of its UTF-32
  code points, and its bit planes when a lane needs many masks). Once few candidates are
  left, sre checks each of them instead.

The cost is linear in the value for any pattern: per character, a few ns per distinct
character of the core up to a fixed cap (the window's bit planes, about 25 ns per byte
lane), plus one 30-bit word operation per 15 literal characters of the core. The worst
case is a value where half the starts pass every check but the last: 2,000 literals of
a 2048-character policy then cost about 60 ns per character, 60 ms for 1 MiB (the regex
search took 1.2 s); bench/wildcards.py measures each case.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from openkms.authz.bitscan import SRE_STEPS_PER_CHAR, Offsets, scan_chunk

Piece = tuple[str, bool]

_ARN_COMPONENTS = 6
_STAR = object()  # a run of '*' in a tokenised pattern
_ANY = object()  # one '?'
_Token = str | object

# sre's search of a fixed-width core costs at most (characters x steps), steps being the
# core's literal characters and runs of '?'. Below this budget it beats building bit masks
# (measured with bench/wildcards.py); above it sre is kept only while the starts it would
# try cost at most this many steps per character of the chunk.
_REGEX_BUDGET = 2048
_FIRST_CHUNK = 4096  # characters in the first chunk scanned bit-parallel
_MAX_CHUNK = 65536  # and in the largest: its masks stay in cache, its memory bounded


@dataclass(frozen=True, slots=True)
class _Segment:
    """Fixed-width text between two runs of ``*``; ``?`` matches any one character.

    Leading and trailing ``?`` only shift and bound the search, so the lookup is for the
    *core* between them: plain text (``str`` operations) unless a ``?`` sits inside it;
    then ``finder`` (a fixed-width regex, for anchored checks and short windows) and
    ``offsets`` (for :func:`_scan`).
    """

    width: int  # the whole segment
    lead: int  # leading '?'
    trail: int  # trailing '?'
    core: str  # text, or the source of ``finder``
    finder: re.Pattern[str] | None  # None when the core has no '?'
    offsets: Offsets  # the core's literal characters and their offsets, when it has '?'
    steps: int  # sre's work at one start of the core: its literal characters and '?' runs
    prefix: str  # the core's first literal run

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
        elif (stop - start) * self.steps <= _REGEX_BUDGET:  # the hot path: a short value
            hit = self.finder.search(value, start, stop)
            found = -1 if hit is None else hit.start()
        else:
            found = self._scan(value, start, stop)
        return found - self.lead if found >= 0 else -1

    def _scan(self, value: str, start: int, stop: int) -> int:
        """The core's leftmost match in ``value[start:stop]``, chunk by chunk, each chunk
        twice the last up to ``_MAX_CHUNK``, so the work is proportional to how far the
        match is (or to the window when there is none); consecutive chunks overlap by the
        core's width - 1 (at most 2,047 characters of a policy's 2,048).

        sre finds the core's first literal run (its ``prefix``) in linear time (a KMP
        table) and only where it occurs runs the rest of the core, at most ``steps -
        len(prefix)`` steps; overlapping occurrences are at most ``len(prefix)`` times the
        count ``str.count`` returns. So a chunk is searched by sre when that bound is
        small: a short chunk (``_REGEX_BUDGET``), or one where the prefix is rare enough
        (``str.count`` costs about 1 ns per character). Any other chunk is scanned
        bit-parallel."""
        assert self.finder is not None
        width, steps, prefix = self.width - self.lead - self.trail, self.steps, self.prefix
        length = _REGEX_BUDGET // steps  # the first chunk: sre, when the core allows it
        while start + width <= stop:
            end = min(stop, start + max(length, 2 * width))
            size = end - start
            if any(value.find(char, start, end) < 0 for char, _ in self.offsets):
                found = -1  # a character of the core is missing: a memchr each, no more
            elif size * steps <= _REGEX_BUDGET or (
                value.count(prefix, start, end) * len(prefix) * (steps - len(prefix) + 1)
                <= size * SRE_STEPS_PER_CHAR
            ):
                hit = self.finder.search(value, start, end)
                found = -1 if hit is None else hit.start() - start
            else:
                found = scan_chunk(value[start:end], width, self.offsets, steps, self.finder)
            if found >= 0:
                return start + found
            start, length = end - width + 1, min(max(2 * length, _FIRST_CHUNK), _MAX_CHUNK)
        return -1


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
        return _Segment(width, lead, trail, text, None, (), 0, text)
    where: dict[str, list[int]] = {}
    for offset, token in enumerate(core):
        if isinstance(token, str):
            where.setdefault(token, []).append(offset)
    # The characters with fewest offsets first: each AND costs the same, and a rare
    # constraint (the 'b' of 'a?a?a?b') empties the candidates soonest.
    offsets = tuple(
        (char, tuple(where[char])) for char in sorted(where, key=lambda c: len(where[c]))
    )
    runs = list(_regex_runs(core))
    steps = sum(len(at) for _, at in offsets) + sum(1 for run in runs if run.startswith("."))
    source = "".join(runs)
    finder = re.compile(source, re.DOTALL)
    prefix = "".join(itertools.takewhile(_is_text, core))  # type: ignore[arg-type]
    return _Segment(width, lead, trail, source, finder, offsets, steps, prefix)


def _is_text(token: _Token) -> bool:
    return isinstance(token, str)


def _regex_runs(tokens: list[_Token]) -> Iterator[str]:
    """Literal runs escaped; a run of n ``?`` as ``.`` or ``.{n}`` (one step for sre)."""
    for literal, group in itertools.groupby(tokens, key=_is_text):
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
