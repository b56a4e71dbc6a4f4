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

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.authz import Request, evaluate, parse_policy
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
        result, seconds = timed(lambda r=request: evaluate(policy, r).allowed)
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
