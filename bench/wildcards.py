"""How long the worst policy wildcards take against 64 KiB values.

Policy wildcards used to be backtracking regular expressions: ``key/*********a`` made
one CreateKey take 8 s and ``*/*/*/*.log`` against an encryption context of 800 slashes
made one Encrypt take 38 s (issue 10). ``openkms.authz.patterns`` now matches greedily,
segment by segment; the target is under 1 ms per match for each pattern below against a
value of 64 KiB built to be its worst case (almost matching, failing at the end).
A ``?`` between literal characters costs O(len(value) x literal runs of its segment)
(one row shows a segment of 100 runs); every other pattern is linear in the value.

Each row is one compiled matcher (as a policy compiles it: Resource and ``ArnLike`` as
ARNs, Action case-insensitive, ``StringLike`` case-sensitive) and one value; the time is
the best of ``--repeat`` rounds of ``--number`` matches. Usage::

    .venv/bin/python bench/wildcards.py [--size 65536] [--number 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

from openkms.authz.patterns import Globs, compile_globs, wild

TARGET_MS = 1.0
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/"


def cases(size: int) -> list[tuple[str, str, Globs, str]]:
    """(rule, pattern, matcher, value) for each worst case."""

    def arn(pattern: str) -> Globs:
        return _compiled(pattern, arn=True)

    def string(pattern: str) -> Globs:
        return _compiled(pattern)

    def action(pattern: str) -> Globs:
        return _compiled(pattern, ignore_case=True)

    a = "a" * size
    key_star = KEY_ARN + "*********a"
    key_stars = KEY_ARN + "*" * 16 + "a"
    qmarks = "?" * 100 + "*" + "?" * 100
    ten = "*a*b*c*d*e*f*g*h*i*j*k"
    region = "arn:aws:kms:*a*a*b:*:*"
    many_runs = "*" + "a?" * 100 + "b*"
    return [
        ("Resource", key_star, arn(key_star), KEY_ARN + "b" * size),
        ("Resource", key_stars, arn(key_stars), KEY_ARN + a + "b"),
        ("StringLike", "*/*/*/*.log", string("*/*/*/*.log"), "/" * size),
        ("StringLike", "*/*/*/*.log", string("*/*/*/*.log"), "x" * size + ".log"),
        ("StringLike", "*a*a*a*a*a*b", string("*a*a*a*a*a*b"), a),
        ("StringLike", "*a*a*a*a*a*b", string("*a*a*a*a*a*b"), "x" * size + "b"),
        ("StringLike", "*" + "a" * 40 + "b*", string("*" + "a" * 40 + "b*"), a),
        ("StringLike", ten, string(ten), "abcdefghij" + a),
        ("StringLike", "*" + "?" * 64 + "b", string("*" + "?" * 64 + "b"), a),
        ("StringLike", "*a?????????b*", string("*a?????????b*"), a),
        ("StringLike", "*?a?a?a?a?b*", string("*?a?a?a?a?b*"), a),
        ("StringLike", many_runs, string(many_runs), a),  # O(value x runs): the known limit
        ("StringLike", qmarks, string(qmarks), "?" * 199),
        ("ArnLike", "arn:*:*:*:*:*a*a*a*b", arn("arn:*:*:*:*:*a*a*a*b"), "arn:aws:kms:r:1:" + a),
        ("ArnLike", region, arn(region), f"arn:aws:kms:{a}:1:k"),
        ("ArnLike", "arn:*:*:*:*:*", arn("arn:*:*:*:*:*"), "arn:" + ":" * size),
        ("Action", "kms:*a*a*a*a*b", action("kms:*a*a*a*a*b"), "KMS:" + "A" * size),
        ("Action", "kms:?e*c?ypt*?*x", action("kms:?e*c?ypt*?*x"), "kms:" + "ec" * (size // 2)),
    ]  # fmt: skip


def _compiled(pattern: str, *, arn: bool = False, ignore_case: bool = False) -> Globs:
    globs = compile_globs([wild(pattern)], arn=arn, ignore_case=ignore_case)
    assert globs is not None
    return globs


def _call(globs: Globs, value: str) -> Callable[[], bool]:
    return lambda: globs.matches(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=65_536, help="value length (characters)")
    parser.add_argument("--number", type=int, default=20, help="matches per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (the best is kept)")
    args = parser.parse_args()
    print(f"value length about {args.size} characters; target < {TARGET_MS} ms per match")
    print(f"{'rule':<11}{'pattern':<36}{'value':>8}{'match':>7}{'ms':>9}  ok")
    worst = 0.0
    for rule, pattern, globs, value in cases(args.size):
        timer = timeit.Timer(_call(globs, value))
        seconds = min(timer.repeat(number=args.number, repeat=args.repeat))
        ms = seconds / args.number * 1000
        worst = max(worst, ms)
        shown = pattern if len(pattern) <= 34 else pattern[:31] + "..."
        verdict = "yes" if ms < TARGET_MS else "NO"
        hit = globs.matches(value)
        print(f"{rule:<11}{shown:<36}{len(value):>8}{hit!s:>7}{ms:>9.4f}  {verdict}")
    print(f"worst: {worst:.4f} ms")


if __name__ == "__main__":
    main()
