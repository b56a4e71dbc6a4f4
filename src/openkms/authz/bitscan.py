"""Bit-parallel search for a fixed-width wildcard core (literal characters and ``?``).

:mod:`openkms.authz.patterns` finds a segment such as ``a?b??c`` in a long value with
this when a regex search would cost O(window x core) (see its module docstring): bit
``i`` of a candidate set stands for "a match may start at ``i``"; each literal ``c`` at
offset ``j`` of the core keeps the starts where ``window[i + j] == c``: one shift and one
AND against the positions of ``c``, built at C speed (``bytes.translate`` to ``0``/``1``
digits, then ``int(digits, 2)``).
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Each distinct literal character of a core, with its offsets in the core.
Offsets = tuple[tuple[str, tuple[int, ...]], ...]
#: The steps per window character at which sre's bounded search is still preferred.
SRE_STEPS_PER_CHAR = 4
_CALL_STEPS = 200  # one call of sre from Python costs about as much as this many steps


def scan_chunk(
    window: str, width: int, offsets: Offsets, steps: int, finder: re.Pattern[str]
) -> int:
    """The core's leftmost match in ``window``, or -1, bit-parallel: ``candidates`` holds
    the starts still possible, and each literal ``c`` at offset ``j`` of the core keeps
    those whose ``window[i + j]`` is ``c``. ``_Positions`` numbers bits from the most
    significant end (bit ``n-1-i`` stands for ``window[i]``, as the digits read), so a
    start ``i`` is bit ``n-1-i`` of ``candidates`` and its character at offset ``j`` is
    bit ``n-1-i-j`` of the positions: shifted *left* by ``j`` to line up. Each offset
    costs one shift and one AND of n-bit integers (about n/30 machine operations).

    Once few candidates remain (the first characters of a near miss usually leave one
    start per copy), sre checks each of them, at its bounded cost, instead of building
    the masks of the core's remaining characters."""
    n = len(window)
    positions = _Positions(window)
    candidates = ((1 << (n - width + 1)) - 1) << (width - 1)  # starts 0 .. n-width
    for char, where in offsets:
        mask = positions.of(char)
        for j in where:
            candidates &= mask << j
        if not candidates:
            return -1
        if candidates.bit_count() * (_CALL_STEPS + steps) <= n * SRE_STEPS_PER_CHAR:
            return _check_each(window, candidates, finder)
    return n - candidates.bit_length()  # the highest bit: the leftmost start


def _check_each(window: str, candidates: int, finder: re.Pattern[str]) -> int:
    """The leftmost of ``candidates`` (as in :func:`scan_chunk`) where ``finder``
    matches, or -1."""
    digits = format(candidates, "b")  # digit t is start n - len(digits) + t
    first = len(window) - len(digits)
    t = digits.find("1")
    while t >= 0:
        if finder.match(window, first + t) is not None:
            return first + t
        t = digits.find("1", t + 1)
    return -1


class _Positions:
    """Where each character occurs in a window, as an ``n``-bit integer (bit ``n-1-i`` set
    when ``window[i]`` is that character), built at C speed from byte *lanes*: the ASCII
    bytes of an ASCII window, or bytes 0, 1 and 2 of each UTF-32 code point (a character's
    mask is the AND of its three byte masks). A byte's mask is one ``translate`` to ``0``
    and ``1`` digits and one ``int(digits, 2)``, built when first asked for. A lane of
    ``bits`` bits (7 for ASCII; 8, 8 and 5 for UTF-32) builds at most ``bits`` masks that
    way; past that, its bit planes are built and each further byte mask is an AND of
    planes, shared along common high bits (at most 2 x 256 masks of one chunk, kept
    small by ``_MAX_CHUNK``), so the cost per window character stays bounded however
    many distinct characters a pattern holds."""

    __slots__ = ("_direct", "_full", "_lanes", "_masks", "_planes")

    def __init__(self, window: str) -> None:
        self._full = (1 << len(window)) - 1
        if window.isascii():
            self._lanes: tuple[tuple[bytes, int], ...] = ((window.encode("ascii"), 7),)
        else:
            utf32 = window.encode("utf-32-le", "surrogatepass")  # JSON admits lone surrogates
            self._lanes = ((utf32[0::4], 8), (utf32[1::4], 8), (utf32[2::4], 5))
        # (lane, bit, byte >> bit): the positions whose byte in that lane agrees with
        # ``byte`` from ``bit`` up; bit 0 is the byte's own mask, however it was built.
        self._masks: dict[tuple[int, int, int], int] = {}
        self._direct = [0] * len(self._lanes)  # byte masks built by one translate each
        self._planes: dict[int, tuple[tuple[int, int], ...]] = {}  # (ones, zeros) per bit

    def of(self, char: str) -> int:
        code = ord(char)
        if len(self._lanes) == 1 and code > 0x7F:
            return 0  # not ASCII, in an ASCII window
        mask = self._full
        for lane in range(len(self._lanes)):
            mask &= self._byte(lane, code >> 8 * lane & 0xFF)
        return mask

    def _byte(self, lane: int, byte: int) -> int:
        mask = self._masks.get((lane, 0, byte))
        if mask is not None:
            return mask
        text, bits = self._lanes[lane]
        planes = self._planes.get(lane)
        if planes is None and self._direct[lane] < bits:
            self._direct[lane] += 1
            mask = int(text.translate(_is_byte(byte)), 2)
        else:
            if planes is None:
                planes = self._planes[lane] = self._bit_planes(text, bits)
            mask = self._full
            for bit in reversed(range(len(planes))):  # high bits first: prefixes are shared
                key = (lane, bit, byte >> bit)
                cached = self._masks.get(key)
                if cached is None:
                    cached = self._masks[key] = mask & planes[bit][0 if byte >> bit & 1 else 1]
                mask = cached
        self._masks[lane, 0, byte] = mask
        return mask

    def _bit_planes(self, text: bytes, bits: int) -> tuple[tuple[int, int], ...]:
        planes = []
        for bit in range(bits):
            ones = int(text.translate(_has_bit(bit)), 2)
            planes.append((ones, self._full ^ ones))
        return tuple(planes)


@lru_cache(maxsize=256)
def _is_byte(byte: int) -> bytes:
    """A ``bytes.translate`` table: ``byte`` to the digit 1, every other byte to 0."""
    return bytes(0x31 if b == byte else 0x30 for b in range(256))


@lru_cache(maxsize=8)
def _has_bit(bit: int) -> bytes:
    """A ``bytes.translate`` table: bytes with ``bit`` set to the digit 1, others to 0."""
    return bytes(0x31 if b >> bit & 1 else 0x30 for b in range(256))
