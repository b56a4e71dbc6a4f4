"""How long the worst policy wildcards take against 64 KiB (and 1 MiB) values.

Policy wildcards used to be backtracking regular expressions: ``key/*********a`` made
one CreateKey take 8 s and ``*/*/*/*.log`` against an encryption context of 800 slashes
made one Encrypt take 38 s (issue 10). ``openkms.authz.patterns`` now matches greedily,
segment by segment; the target is under 1 ms per match for each pattern below against a
value of 64 KiB built to be its worst case (almost matching, failing at the end), and
proportionally more for the 1 MiB rows (an encryption context may be that long).

Every pattern is linear in the value. A segment with ``?`` between literal characters
(``a?a?a?b``) was a regex search costing O(value x segment): ``a?`` x 100 took 10 ms on
64 KiB, a 2048-character session policy over 1 MiB more than a second. It is now scanned
bit-parallel with Python integers, or by sre where sre's cost is bounded (short values,
rare prefixes, few candidate starts left). Its worst case is the ``*a?abab...?a*`` rows:
half the starts survive all 2,000 checks but the last, about 60 ns per character, so
those rows miss the 1 ms per 64 KiB target by a factor of 4. The last rows are the
request hot path: short values (a key id, an encryption context value) that sre searches
as before.

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

TARGET_MS = 1.0  # per 64 KiB of value
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def cases(size: int) -> list[tuple[str, str, Globs, str]]:
    """(rule, pattern, matcher, value) for each worst case."""

    def arn(pattern: str) -> Globs:
        return _compiled(pattern, arn=True)

    def string(pattern: str) -> Globs:
        return _compiled(pattern)

    def action(pattern: str) -> Globs:
        return _compiled(pattern, ignore_case=True)

    a = "a" * size
    mib = 1 << 20
    key_star = KEY_ARN + "*********a"
    key_stars = KEY_ARN + "*" * 16 + "a"
    qmarks = "?" * 100 + "*" + "?" * 100
    ten = "*a*b*c*d*e*f*g*h*i*j*k"
    region = "arn:aws:kms:*a*a*b:*:*"
    runs_100, runs_1000, runs_1022 = ("*" + "a?" * k + "b*" for k in (100, 1000, 1022))
    dense = "*a?" + "ab" * 999 + "?a*"  # every start of the right parity passes 1998 checks
    wide, wide_value = _distinct([chr(0x100 + 257 * i) for i in range(300)], size)
    ascii_wide, ascii_value = _distinct([chr(c) for c in range(0x21, 0x7E)], size)
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
        ("StringLike", runs_100, string(runs_100), a),
        ("StringLike", runs_100, string(runs_100), "ab" * (size // 2)),
        ("StringLike", runs_100, string(runs_100), _late_misses(100, size)),
        ("StringLike", runs_1000, string(runs_1000), _late_misses(1000, size)),
        ("StringLike", runs_1022, string(runs_1022), _late_misses(1022, mib)),
        ("StringLike", dense, string(dense), "ab" * (size // 2)),  # the worst: see docstring
        ("StringLike", dense, string(dense), "ab" * (mib // 2)),
        ("StringLike", "*a?b" * 511 + "*c", string("*a?b" * 511 + "*c"), "axb" * (mib // 3)),
        ("StringLike", ascii_wide, string(ascii_wide), ascii_value),
        ("StringLike", wide, string(wide), wide_value),
        ("StringLike", qmarks, string(qmarks), "?" * 199),
        ("ArnLike", "arn:*:*:*:*:*a*a*a*b", arn("arn:*:*:*:*:*a*a*a*b"), "arn:aws:kms:r:1:" + a),
        ("ArnLike", region, arn(region), f"arn:aws:kms:{a}:1:k"),
        ("ArnLike", "arn:*:*:*:*:*", arn("arn:*:*:*:*:*"), "arn:" + ":" * size),
        ("Action", "kms:*a*a*a*a*b", action("kms:*a*a*a*a*b"), "KMS:" + "A" * size),
        ("Action", "kms:?e*c?ypt*?*x", action("kms:?e*c?ypt*?*x"), "kms:" + "ec" * (size // 2)),
        # The hot path: short values, as most requests carry them.
        ("Resource", key_star, arn(key_star), KEY_ARN + KEY_ID),
        ("Resource", KEY_ARN + "????????-*", arn(KEY_ARN + "????????-*"), KEY_ARN + KEY_ID),
        ("StringLike", "*-12?b-*", string("*-12?b-*"), KEY_ID),
        ("StringLike", "*a?c*", string("*a?c*"), "project-abc"),
        ("StringLike", "app-??-*-?x", string("app-??-*-?x"), "app-eu-payments-2x"),
        ("StringLike", "*f?r*r?p*", string("*f?r*r?p*"), "tenant/finance-report/prod"),
        ("Action", "kms:Re?ncrypt*", action("kms:Re?ncrypt*"), "kms:ReEncryptFrom"),
    ]  # fmt: skip


def _late_misses(k: int, length: int) -> str:
    """For ``*`` + ``a?`` x ``k`` + ``b*``: each ``b`` fixes a start where every ``a`` but
    the last is in place, so the scan does all of its work."""
    block = "a" * (2 * k - 2) + "xab"
    return (block * (length // len(block) + 1))[:length]


def _distinct(chars: list[str], length: int) -> tuple[str, str]:
    """A ``*core*`` pattern holding each of ``chars`` after a frequent ``~``, and a value
    whose every copy of the core fails only at the last check."""
    core = "~??" + "?".join(chars[1:]) + "?" + chars[2]  # sre would try every '~'
    block = "".join("~" + c for c in chars)
    return "*" + core + "*", (block * (length // len(block) + 1))[:length]


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
    print(f"target < {TARGET_MS} ms per match per 64 KiB of value (at least {TARGET_MS} ms)")
    print(f"{'rule':<11}{'pattern':<36}{'value':>8}{'match':>7}{'ms':>9}  ok")
    worst = 0.0
    for rule, pattern, globs, value in cases(args.size):
        timer = timeit.Timer(_call(globs, value))
        seconds = min(timer.repeat(number=args.number, repeat=args.repeat))
        ms = seconds / args.number * 1000
        worst = max(worst, ms)
        shown = pattern if len(pattern) <= 34 else pattern[:31] + "..."
        verdict = "yes" if ms < TARGET_MS * max(1.0, len(value) / 65_536) else "NO"
        hit = globs.matches(value)
        print(f"{rule:<11}{shown:<36}{len(value):>8}{hit!s:>7}{ms:>9.4f}  {verdict}")
    print(f"worst: {worst:.4f} ms")


if __name__ == "__main__":
    main()
