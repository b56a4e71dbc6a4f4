"""Policy wildcards (``openkms.authz.patterns``): the matching rules, an oracle, and the
pathological patterns of issue 10 that took seconds as backtracking regexes.

The oracle is the regex translation the module used before (one ``.*``/``[^:]*`` per
``*``): right, but exponential on near-misses. On the short values hypothesis draws
it is fast, and every answer must agree with the new matcher.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.authz import Request, bitscan, evaluate, parse_policy, patterns
from openkms.authz.patterns import Piece, compile_globs, wild

A = "111122223333"
ROOT = f"arn:aws:iam::{A}:root"
USER = f"arn:aws:iam::{A}:user/alice"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BOUND_S = 1.0  # issue 10: a request must not stall; the real cost is well under 1 ms


def matches(
    pattern: str | tuple[Piece, ...], value: str, *, arn: bool = False, ignore_case: bool = False
) -> bool:
    pieces = wild(pattern) if isinstance(pattern, str) else pattern
    globs = compile_globs([pieces], arn=arn, ignore_case=ignore_case)
    assert globs is not None
    return globs.matches(value)


def oracle(pieces: tuple[Piece, ...], value: str, *, arn: bool, ignore_case: bool) -> bool:
    """The former regex translation, kept here as the reference semantics."""
    segmented = arn and sum(text.count(":") for text, _ in pieces) >= 5
    colons = 0
    out: list[str] = []
    for text, is_wild in pieces:
        for ch in text:
            if ch == ":":
                colons += 1
                out.append(":")
            elif is_wild and ch in "*?":
                one = "[^:]" if segmented and colons < 5 else "."
                out.append(one + "*" if ch == "*" else one)
            else:
                out.append(re.escape(ch))
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch("".join(out), value, flags) is not None


# --------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("", "", True),
        ("", "a", False),
        ("*", "", True),
        ("***", "anything at all", True),
        ("**a**", "a", True),
        ("**a**", "", False),
        ("?", "", False),
        ("?", "x", True),
        ("?", "xy", False),
        ("?abc", "zabc", True),
        ("abc?", "abcz", True),
        ("abc?", "abc", False),
        ("?*?", "x", False),
        ("?*?", "xy", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "acb", False),
        ("*a*a*b", "aab", True),
        ("*a*a*b", "aabab", True),
        ("*a*a*b", "ab", False),
        ("a?c*", "abc", True),
        ("*b?d*", "xxbcbzd", True),  # the first 'b' fails, a later one matches
        ("*/*/*/*.log", "a/b/c/d.log", True),
        ("*/*/*/*.log", "///.log", True),
        ("*/*/*/*.log", "//.log", False),
        ("a*", "a\nb", True),  # wildcards cross line breaks
        ("a?b", "a\nb", True),
    ],
)
def test_string_like(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_string_like_is_case_sensitive_and_action_is_not() -> None:
    assert not matches("Encrypt*", "encryptFoo")
    assert matches("kms:Encrypt*", "KMS:ENCRYPTFOO", ignore_case=True)
    assert matches("KMS:?E*T", "kms:reencrypt", ignore_case=True)
    assert not matches("kms:?E*T", "kms:encrypt", ignore_case=True)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        # The first five components: a wildcard never crosses a colon.
        ("arn:aws:kms:*:111122223333:key/*", KEY, True),
        ("arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us:east:111122223333:key/k", False),
        ("arn:aws:kms:??-east-1:*:*", KEY, True),
        ("arn:aws:kms:????-east-1:*:*", KEY, False),
        ("arn:*:*:*:*:*", "arn:::::", True),
        ("arn:*:*:*:*:*", "arn::::", False),  # five components only
        ("arn:*:*:*:*:?", "arn:::::", False),
        ("arn:aws:kms:*:*:key/?", "arn:aws:kms:r:1:key/x", True),
        # The resource part (after the fifth colon) may hold colons, and wildcards in it
        # cross them.
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b:c", True),
        ("arn:aws:x:r:1:a*d", "arn:aws:x:r:1:a:b:c:d", True),
        ("arn:aws:x:r:1:a?b", "arn:aws:x:r:1:a:b", True),
        ("arn:aws:x:r:1:a:*", "arn:aws:x:r:1:a:b:c", True),
        ("arn:aws:x:r:1:a:*", "arn:aws:x:r:1:ab:c", False),
        # Fewer than six components: a plain wildcard string, crossing colons.
        ("arn:aws:kms:*", KEY, True),
        ("*", KEY, True),
        ("arn:*:key/*", KEY, True),
        # No wildcard: equality.
        (KEY, KEY, True),
        (KEY, KEY + "x", False),
        (KEY.upper(), KEY, False),
    ],
)
def test_arn(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value, arn=True) is expected


def test_substituted_variables_are_literal_pieces() -> None:
    """``${aws:username}`` resolving to ``a*b`` matches only ``a*b``; ``${*}`` and ``${?}``
    are a literal star and question mark."""
    user_star = (("arn:aws:iam::1:user/", True), ("a*b", False), ("/*", True))
    assert matches(user_star, "arn:aws:iam::1:user/a*b/x", arn=True)
    assert not matches(user_star, "arn:aws:iam::1:user/aXb/x", arn=True)
    assert matches((("x", True), ("?", False)), "x?")
    assert not matches((("x", True), ("?", False)), "xy")
    # A variable's colons count as component separators, as in the pattern text.
    region = (("arn:aws:kms:", True), ("us-east-1:", False), (f"{A}:key/*", True))
    assert matches(region, KEY, arn=True)
    # A piece holding a wildcard character next to wild text keeps each piece's rule.
    mixed = (("*", True), ("*", False), ("?", True))
    assert matches(mixed, "ab*c") and not matches(mixed, "abc")


def test_alternatives_and_empty_list() -> None:
    globs = compile_globs([wild("kms:Encrypt"), wild("kms:*Key"), wild("kms:Re?ncrypt*")])
    assert globs is not None
    assert globs.matches("kms:Encrypt") and globs.matches("kms:CreateKey")
    assert globs.matches("kms:ReEncryptFrom") and not globs.matches("kms:Decrypt")
    assert compile_globs([]) is None


PIECE_TEXT = st.text(alphabet="ab:*?", max_size=6)
VALUES = st.text(alphabet="abAB:\n", max_size=10)


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.tuples(PIECE_TEXT, st.booleans()), max_size=3).map(tuple),
    value=VALUES,
    arn=st.booleans(),
)
def test_agrees_with_the_former_regex(pieces: tuple[Piece, ...], value: str, arn: bool) -> None:
    expected = oracle(pieces, value, arn=arn, ignore_case=False)
    assert matches(pieces, value, arn=arn) is expected


@settings(max_examples=400, deadline=None)
@given(
    pattern=st.text(alphabet="abAB:*?", max_size=8),
    value=st.text(alphabet="abAB:", max_size=10),
)
def test_action_rule_agrees_with_the_former_regex(pattern: str, value: str) -> None:
    expected = oracle(wild(pattern.lower()), value.lower(), arn=False, ignore_case=True)
    assert matches(pattern, value, ignore_case=True) is expected


@settings(max_examples=300, deadline=None)
@given(
    components=st.lists(st.text(alphabet="ab*?", max_size=3), min_size=6, max_size=6),
    value=st.lists(st.text(alphabet="ab:", max_size=4), min_size=4, max_size=8),
)
def test_arn_rule_agrees_with_the_former_regex(components: list[str], value: list[str]) -> None:
    pattern, text = ":".join(components), ":".join(value)
    assert matches(pattern, text, arn=True) is oracle(
        wild(pattern), text, arn=True, ignore_case=False
    )


# --------------------------------------------------------------------------- pathological

BIG = 65_536


def timed(call: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


@pytest.mark.parametrize(
    ("pattern", "value", "arn", "expected"),
    [
        (
            f"arn:aws:kms:us-east-1:{A}:key/*********a",
            f"arn:aws:kms:us-east-1:{A}:key/" + "b" * BIG,
            True,
            False,
        ),
        (f"arn:aws:kms:us-east-1:{A}:key/" + "*" * 12 + "b", KEY, True, True),
        ("*/*/*/*.log", "/" * BIG, False, False),
        ("*a*a*a*a*a*b", "a" * BIG, False, False),
        ("*a*a*a*a*a*b", "x" * BIG + "b", False, False),
        ("*/*/*/*.log", "x" * BIG + ".log", False, False),
        ("*" + "a" * 40 + "b*", "a" * BIG, False, False),
        ("*a*b*c*d*e*f*g*h*i*j*k", "abcdefghij" + "a" * BIG, False, False),
        ("*" + "?" * 64 + "b", "a" * BIG, False, False),
        ("*a?????????b*", "a" * BIG, False, False),
        ("*?a?a?a?a?b*", "a" * BIG, False, False),
        ("arn:*:*:*:*:*a*a*a*b", "arn:aws:kms:r:1:" + "a" * BIG, True, False),
        ("arn:aws:kms:*a*a*b:*:*", "arn:aws:kms:" + "a" * BIG + ":1:k", True, False),
        ("*" * 40 + "x", "y" * BIG, False, False),
    ],
    ids=lambda v: v[:24] if isinstance(v, str) else None,
)
def test_worst_patterns_on_64_kib_values(
    pattern: str, value: str, arn: bool, expected: bool
) -> None:
    result, seconds = timed(lambda: matches(pattern, value, arn=arn))
    assert result is expected
    assert seconds < BOUND_S


def test_star_heavy_key_policy_resource_evaluates_fast() -> None:
    """CreateKey's lockout check evaluates the Resource against the new key's ARN; with
    nine stars the regex took ~8 s (issue 10)."""
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*",
         "Resource": f"arn:aws:kms:us-east-1:{A}:key/*********a"}]}), "resource")  # fmt: skip
    request = Request(ROOT, A, "kms:PutKeyPolicy", KEY)
    result, seconds = timed(lambda: evaluate(policy, request).allowed)
    assert result is False and seconds < BOUND_S


def test_string_like_condition_on_800_slashes_evaluates_fast() -> None:
    """``*/*/*/*.log`` against 800 slashes took 38 s as a regex (issue 10)."""
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringLike": {"kms:EncryptionContext:path": "*/*/*/*.log"}}}]}),
        "resource")  # fmt: skip
    for path, allowed in (("/" * 800, False), ("/" * 800 + ".log", True), ("a/b/c/d.log", True)):
        request = Request(USER, A, "kms:Encrypt", KEY, {"kms:EncryptionContext:path": path})

        def decide(r: Request = request) -> bool:
            return evaluate(policy, r).allowed

        result, seconds = timed(decide)
        assert result is allowed and seconds < BOUND_S


def test_session_policy_patterns_evaluate_fast() -> None:
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": f"arn:aws:kms:*:{A}:key/**********z"},
        {"Effect": "Allow", "Action": "kms:*a*a*a*a*a*a*a*a*b", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringLike": {"kms:EncryptionContext:path": "*/*/*/*/*/*.log"},
                       "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*a*a*a*a*a*b"}}},
    ]}), "identity")  # fmt: skip
    context = {"kms:EncryptionContext:path": "/" * 2000, "aws:PrincipalArn": USER + "a" * 2000}
    request = Request(USER, A, "kms:Encrypt", KEY, context)
    result, seconds = timed(lambda: evaluate(policy, request).allowed)
    assert result is False and seconds < BOUND_S


# --------------------------------------------------------------------------- '?' between literals
#
# A core such as ``a?b??c`` is searched by sre only in short chunks (or where its prefix is
# rare); longer ones are scanned bit-parallel (``bitscan.scan_chunk``). Forcing every
# chunk through the bit-parallel scan, with chunks of a few characters so that matches
# straddle chunk boundaries, must give the reference regex's answers: ASCII and non-ASCII
# windows, astral characters, characters whose UTF-32 forms differ only in their second or
# third byte, lone surrogates (JSON admits them), '?' at either end and runs of '?'.

SPREAD = "ab\u0161\u0100\U00010061\U00010161\U0001f600\ud800\xe9"


# Many distinct bytes in each UTF-32 lane (and among ASCII), so masks come from bit planes.
WIDE = "abcdefghijkl" + "".join(chr(0x10000 + 0x10101 * i) for i in range(12))


@st.composite
def near_matches(draw: st.DrawFn, among: str = SPREAD, most: int = 4) -> tuple[str, str]:
    """``pre*core*post`` and a value made of filled-in copies of the core (some with a
    character changed) between random characters, so that matches are found or just
    missed, often across chunk boundaries."""
    alphabet = draw(st.lists(st.sampled_from(among), min_size=1, max_size=most, unique=True))
    chars = st.sampled_from(alphabet)
    tokens = draw(st.lists(st.one_of(chars, st.just("?")), min_size=1, max_size=3 * most))
    core = draw(chars) + "".join(tokens) + draw(chars)
    pre = draw(st.text(alphabet=alphabet + ["?"], max_size=2))
    post = draw(st.text(alphabet=alphabet + ["?"], max_size=2))
    pieces: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        filled = [draw(chars) if c == "?" else c for c in core]
        if draw(st.booleans()):
            filled[draw(st.integers(0, len(filled) - 1))] = draw(chars)
        pieces.append(draw(st.text(alphabet=alphabet, max_size=5)) + "".join(filled))
    return f"{pre}*{core}*{post}", "".join(pieces) + draw(st.text(alphabet=alphabet, max_size=5))


@settings(max_examples=500, deadline=None)
@given(
    case=st.one_of(near_matches(), near_matches(WIDE, 16), near_matches(WIDE[:12], 12)),
    chunk=st.integers(1, 9),
    call_steps=st.sampled_from([10**9, 0, -(10**9)]),  # never, sometimes, at once: sre each
)
def test_bit_parallel_scan_agrees_with_the_former_regex(
    case: tuple[str, str], chunk: int, call_steps: int
) -> None:
    pattern, value = case
    expected = oracle(wild(pattern), value, arn=False, ignore_case=False)
    with (
        mock.patch.object(patterns, "_REGEX_BUDGET", 0),
        mock.patch.object(patterns, "SRE_STEPS_PER_CHAR", 0),
        mock.patch.object(bitscan, "SRE_STEPS_PER_CHAR", 0),
        mock.patch.object(bitscan, "_CALL_STEPS", call_steps),
        mock.patch.object(patterns, "_FIRST_CHUNK", chunk),
        mock.patch.object(patterns, "_MAX_CHUNK", chunk * 2),
    ):
        assert matches(pattern, value) is expected
    assert matches(pattern, value) is expected  # the real budgets: sre for these


@settings(max_examples=300, deadline=None)
@given(
    runs=st.lists(
        st.tuples(st.text(alphabet="ab" + SPREAD, min_size=1, max_size=3), st.integers(1, 3)),
        min_size=1,
        max_size=4,
    ),
    last=st.text(alphabet="ab" + SPREAD, min_size=1, max_size=2),
    value=st.text(alphabet="ab" + SPREAD, min_size=0, max_size=300),
)
def test_long_windows_take_each_path_and_agree(
    runs: list[tuple[str, int]], last: str, value: str
) -> None:
    """``*core*`` over values up to 300 characters with the real chunk sizes and budgets
    shrunk, so a window takes sre, the rare-prefix rule and the bit-parallel scan."""
    pattern = "*" + "".join(text + "?" * gap for text, gap in runs) + last + "*"
    expected = oracle(wild(pattern), value, arn=False, ignore_case=False)
    assert matches(pattern, value) is expected
    with (
        mock.patch.object(patterns, "_REGEX_BUDGET", 8),
        mock.patch.object(patterns, "_FIRST_CHUNK", 16),
    ):
        assert matches(pattern, value) is expected


@pytest.mark.parametrize("call_steps", [10**9, -(10**9)], ids=["masks", "sre-each"])
def test_scan_finds_the_leftmost_match_across_chunks(call_steps: int) -> None:
    segment = patterns._segment([*"a", patterns._ANY, *"b"])
    value = "x" * 5000 + "ayc" + "ayb" + "x" * 5000 + "azb"
    with (
        mock.patch.object(patterns, "_REGEX_BUDGET", 0),
        mock.patch.object(patterns, "SRE_STEPS_PER_CHAR", 0),
        mock.patch.object(bitscan, "SRE_STEPS_PER_CHAR", 0),
        mock.patch.object(bitscan, "_CALL_STEPS", call_steps),
    ):
        assert segment.find(value, 0, len(value)) == 5003
        assert segment.find(value, 5004, len(value)) == 10006
        assert segment.find(value, 5004, 10008) == -1  # the window ends inside the match
        assert segment.find("\U0001f600" * 40 + "aybayb", 0, 46) == 40
    assert segment.find("\U0001f600ayb", 0, 4) == 1


MIB = 1 << 20


def _late_misses(k: int, length: int) -> str:
    """For ``a?`` x ``k`` + ``b``: blocks whose one ``b`` fixes a start where every ``a``
    but the last is in place, so the bit-parallel scan does all of its work."""
    block = "a" * (2 * k - 2) + "xab"
    return (block * (length // len(block) + 1))[:length]


def _distinct(chars: list[str], length: int) -> tuple[str, str]:
    """A pattern holding each of ``chars`` once, between '?', after a frequent ``~``, and
    a value interleaving ``~`` with them: every start but the last check lines up."""
    core = "~??" + "?".join(chars[1:]) + "?" + chars[2]  # sre would try every '~'
    block = "".join("~" + c for c in chars)
    return "*" + core + "*", (block * (length // len(block) + 1))[:length]


ASCII_93 = [chr(c) for c in range(0x21, 0x7E)]
BMP_300 = [chr(0x100 + 257 * i) for i in range(300)]  # crossing the surrogate range
ASTRAL_300 = [chr(0x10000 + 257 * i) for i in range(300)]


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*" + "a?" * 100 + "b*", "a" * BIG, False),
        ("*" + "a?" * 100 + "b*", "ab" * (BIG // 2), False),
        ("*" + "a?" * 100 + "b*", _late_misses(100, BIG), False),
        ("*" + "a?" * 1000 + "b*", _late_misses(1000, BIG), False),
        # A session policy's 2048 characters against a 1 MiB encryption context.
        ("*" + "a?" * 1022 + "b*", "a" * MIB, False),
        ("*" + "a?" * 1022 + "b*", "ab" * (MIB // 2), False),
        ("*" + "a?" * 1022 + "b*", _late_misses(1022, MIB), False),
        ("*" + "a?" * 1022 + "b*", _late_misses(1022, MIB) + "a" * 2043 + "b", True),
        # Half the starts pass every check but the last: 2,000 ANDs of the whole chunk.
        ("*a?" + "ab" * 999 + "?a*", "ab" * (MIB // 2), False),
        ("*a?" + "ab" * 999 + "?b*", "ab" * (MIB // 2), True),
        ("*" + "ab" * 1000 + "?a*", "ab" * (MIB // 2), False),  # sre: its prefix search is KMP
        # Many '?'-segments, each found at once; 1000 single '?' segments.
        ("*a?b" * 511 + "*", "axb" * (MIB // 3), True),
        ("*a?b" * 511 + "*c", "axb" * (MIB // 3), False),
        ("*?a" * 682 + "*b", "xa" * (MIB // 2), False),
        ("*?" * 1000 + "*b", "x" * MIB, False),
        # Many distinct characters: bit planes rather than one mask per character.
        (*_distinct(ASCII_93, MIB), False),
        (*_distinct(BMP_300, MIB), False),
        (*_distinct(ASTRAL_300, MIB), False),
    ],
    ids=lambda v: f"{v[:8]}..{len(v)}" if isinstance(v, str) else None,
)
def test_question_marks_between_literals_are_linear(
    pattern: str, value: str, expected: bool
) -> None:
    """``*`` + ``a?`` x 100 + ``b*`` took 10 ms against 64 KiB as a regex search (one try
    per start, one step per literal run), and a 2048-character session policy against a
    1 MiB value took seconds with the GIL held."""
    result, seconds = timed(lambda: matches(pattern, value))
    assert result is expected
    assert seconds < BOUND_S


@pytest.mark.parametrize("chars", [ASCII_93, BMP_300, ASTRAL_300], ids=["ascii", "bmp", "astral"])
def test_distinct_characters_bit_parallel(chars: list[str]) -> None:
    """The near misses above, scanned bit-parallel on 5000 characters, miss; put right,
    they match, also when the one copy sits past the first chunks."""
    pattern, value = _distinct(chars, 5000)
    right = pattern[:-3] + "?" + chars[0] + "*"
    with (
        mock.patch.object(patterns, "_REGEX_BUDGET", 0),
        mock.patch.object(patterns, "SRE_STEPS_PER_CHAR", 0),
        mock.patch.object(bitscan, "SRE_STEPS_PER_CHAR", 0),
    ):
        assert not matches(pattern, value)
        assert matches(right, value)
        width = 2 * len(chars) + 2  # of the core: one copy, and one character short
        assert matches(right, "~" * 9001 + value[:width])
        assert not matches(right, "~" * 9001 + value[: width - 1])


def test_planes_tell_apart_characters_differing_only_in_the_third_byte() -> None:
    """U+0061, U+10061, ..., U+100061 share their first two UTF-32 bytes; with 17 of them
    in one core the third byte's masks come from its five bit planes."""
    chars = [chr(0x10000 * plane + 0x61) for plane in range(17)]
    pattern = "*" + "?".join(chars[1:16]) + "?a*"
    body = "x".join(chars[1:16]) + "x"
    with (
        mock.patch.object(patterns, "_REGEX_BUDGET", 0),
        mock.patch.object(patterns, "SRE_STEPS_PER_CHAR", 0),
        mock.patch.object(bitscan, "SRE_STEPS_PER_CHAR", 0),
    ):
        assert matches(pattern, body + "a")
        assert not matches(pattern, body + chars[16] + "a")  # 'a' is there, one too far
        assert not matches(pattern, body + chars[1] + "a")
        assert matches("*" + chars[16] + "?" + chars[15] + "*", body + chars[16] + "y" + chars[15])
