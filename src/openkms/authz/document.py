"""Parse, validate and compile IAM policy documents (key, identity and trust policies).

Implements the "IAM JSON policy elements reference" and "Grammar of the IAM JSON policy
language" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html)
and, for key policies, "Key policies in AWS KMS" / "Creating a key policy"
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html):

* ``Version`` is ``2012-10-17`` or ``2008-10-17``; absent means 2008-10-17 semantics
  (no policy variables). ``Id`` "must *not* be included in identity-based policies".
* ``Statement`` is one object or a non-empty list. Each statement has ``Effect``
  (``Allow``/``Deny``), exactly one of ``Action``/``NotAction``, optionally ``Sid`` and
  ``Condition``; "Individual elements must not contain multiple instances of the same
  key".
* ``Principal``/``NotPrincipal``: required in resource and trust policies, forbidden in
  identity policies ("The principal_block element is required in resource-based policies
  ... and in trust policies for IAM roles. It must not be included in identity-based
  policies").
* ``Resource``/``NotResource``: one is required in identity policies ("Statements must
  include either a Resource or a NotResource element"); trust policies have none. In a
  key policy "If the required Resource element is missing from a key policy statement,
  the policy statement has no effect ... the CreateKey and PutKeyPolicy APIs succeed":
  such a statement is accepted and never applies.
* ``Sid``: "For IAM policies, basic alphanumeric characters (A-Z,a-z,0-9) are the only
  allowed characters" and IAM rejects duplicates ("Statement IDs (SID) in a single policy
  must be unique"). "The Sid element in a key policy statement can include spaces"; the
  KMS documentation states no uniqueness rule, so key policies may repeat a Sid.
* Key policies: "Up to 32 kilobytes (32,768 bytes)", and only "Printable ASCII
  characters", "Printable characters in the Basic Latin and Latin-1 Supplement character
  set" and tab, line feed and carriage return.
* Nesting: the grammar's deepest valid document is six levels (policy, Statement list,
  statement, Condition, operator, value list). A document nested more than
  :data:`MAX_POLICY_DEPTH` levels is malformed, and is refused before it is parsed (a
  policy nested 1,000 deep made the JSON decoder raise ``RecursionError``: a 500).

A document is compiled once: wildcard patterns become linear-time matchers
(:mod:`openkms.authz.patterns`; case-insensitive for actions, case-sensitive for
resources), principals become sets, conditions become
:class:`~openkms.authz.conditions.Clause` objects. :func:`parse_policy` caches compiled
policies by text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from openkms.authz.conditions import Clause, compile_condition
from openkms.authz.context import Context
from openkms.authz.patterns import Globs, compile_globs, wild
from openkms.authz.principals import PrincipalSpec, parse_principal
from openkms.authz.variables import Template, parse_template
from openkms.errors import LimitExceededException, MalformedPolicyDocumentException

PolicyKind = Literal["resource", "identity", "trust"]
MAX_KEY_POLICY_BYTES = 32_768
MAX_POLICY_DEPTH = 32
VERSION_2012 = "2012-10-17"
VERSIONS = (VERSION_2012, "2008-10-17")

_TOP_LEVEL = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction"}
    | {"Resource", "NotResource", "Condition"}
)
_KEY_POLICY_FORBIDDEN_CHAR = re.compile(r"[^\t\n\r\x20-\x7e\xa0-\xff]")
_IAM_SID = re.compile(r"[0-9A-Za-z]*")
_ACTION = re.compile(r"\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?_.-]+")
# A JSON string (possibly unterminated: it then runs to the end). Possessive, with
# disjoint alternatives: one pass over the text, nothing to backtrack into.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")

_Fail = Callable[[str], MalformedPolicyDocumentException]


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class StatementRef:
    index: int
    sid: str | None

    def __str__(self) -> str:
        return f"Statement {self.index}" + (f" (Sid {self.sid!r})" if self.sid else "")


@dataclass(frozen=True, slots=True)
class ActionMatcher:
    """Action/NotAction patterns, split for speed into exact names, ``prefix*`` patterns
    and wildcard matchers for the rest; all compared lower-cased."""

    element: str  # "Action" or "NotAction"
    patterns: tuple[str, ...]
    match_all: bool
    exact: frozenset[str]
    prefixes: tuple[str, ...]
    wildcards: Globs | None
    positive: bool  # element == "Action"

    def applies(self, action: str) -> bool:
        if self.match_all:
            return self.positive
        lowered = action.lower()
        hit = (
            lowered in self.exact
            or lowered.startswith(self.prefixes)
            or (self.wildcards is not None and self.wildcards.matches(lowered))
        )
        return hit is self.positive


@dataclass(frozen=True, slots=True)
class ResourceMatcher:
    element: str  # "Resource", "NotResource", or "" when the statement has neither
    patterns: tuple[str, ...]
    templates: tuple[Template, ...]
    match_all: bool
    static: Globs | None  # None when a pattern holds a policy variable
    applies_without_element: bool  # trust policies: True; key policies: False

    def applies(self, resource: str, ctx: Context) -> bool:
        if not self.element:
            return self.applies_without_element
        if self.match_all:
            hit = True
        elif self.static is not None:
            hit = self.static.matches(resource)
        else:
            resolved = [t.resolve(ctx.get) for t in self.templates]
            globs = compile_globs([p for p in resolved if p is not None], arn=True)
            hit = globs is not None and globs.matches(resource)
        return hit is (self.element == "Resource")


@dataclass(frozen=True, slots=True)
class Statement:
    ref: StatementRef
    effect: Effect
    principal: PrincipalSpec | None
    not_principal: bool
    actions: ActionMatcher
    resources: ResourceMatcher
    conditions: tuple[Clause, ...]
    is_deny: bool  # effect is Effect.DENY, precomputed for the evaluation loop


@dataclass(frozen=True, slots=True)
class Policy:
    kind: PolicyKind
    version: str | None
    id: str | None
    statements: tuple[Statement, ...]
    uses_context: bool  # some statement has a Condition or a Resource with a variable

    @property
    def variables_enabled(self) -> bool:
        return self.version == VERSION_2012


def parse_policy(text: str, kind: PolicyKind) -> Policy:
    """Validate and compile a policy; raise MalformedPolicyDocumentException if invalid."""
    if kind not in ("resource", "identity", "trust"):
        raise ValueError(f"unknown policy kind {kind!r}")
    return _parse_cached(text, kind)


@lru_cache(maxsize=512)
def _parse_cached(text: str, kind: PolicyKind) -> Policy:
    if kind == "resource":
        _check_key_policy_text(text)
    doc = _load_json(text)
    if not isinstance(doc, dict):
        raise _malformed("The policy must be a JSON object.")
    unknown = sorted(set(doc) - _TOP_LEVEL)
    if unknown:
        raise _malformed(f"The policy has an unsupported element: {unknown[0]}.")
    version = doc.get("Version")
    if "Version" in doc and version not in VERSIONS:
        raise _malformed(f"The policy Version {version!r} is invalid; use 2012-10-17.")
    policy_id = doc.get("Id")
    if "Id" in doc:
        if kind == "identity":
            raise _malformed("The Id element is not allowed in an identity-based policy.")
        if not isinstance(policy_id, str):
            raise _malformed("The policy Id must be a string.")
    raw = doc.get("Statement")
    raws = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raws, list) or not raws:
        raise _malformed("The policy must contain at least one Statement.")
    variables = version == VERSION_2012
    statements = tuple(_statement(st, i, kind, variables) for i, st in enumerate(raws))
    if kind != "resource":
        _check_unique_sids(statements)
    uses_context = any(
        st.conditions or (st.resources.element and st.resources.static is None) for st in statements
    )
    return Policy(kind, version, policy_id, statements, bool(uses_context))


def _malformed(message: str) -> MalformedPolicyDocumentException:
    return MalformedPolicyDocumentException(message)


def _check_key_policy_text(text: str) -> None:
    size = len(text.encode("utf-8"))
    if size > MAX_KEY_POLICY_BYTES:
        # AWS: "If the key policy exceeds the length constraint, KMS returns a
        # LimitExceededException" (CreateKey/PutKeyPolicy, Policy).
        raise LimitExceededException(
            f"The key policy is {size} bytes; the maximum is {MAX_KEY_POLICY_BYTES} bytes."
        )
    bad = _KEY_POLICY_FORBIDDEN_CHAR.search(text)
    if bad is not None:
        raise _malformed(
            f"The key policy contains the character U+{ord(bad.group()):04X} at offset "
            f"{bad.start()}; key policies allow printable ASCII and Latin-1 characters, tab, "
            "line feed and carriage return."
        )


def _load_json(text: str) -> object:
    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, value in pairs:
            if key in result:
                raise _malformed(f"The policy repeats the key {key!r} in one JSON object.")
            result[key] = value
        return result

    def no_constants(name: str) -> object:
        raise _malformed(f"The policy is not valid JSON: {name} is not a JSON value.")

    _check_depth(text)
    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise _malformed(
            f"The policy is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})."
        ) from None


def _check_depth(text: str) -> None:
    """Refuse arrays and objects nested deeper than MAX_POLICY_DEPTH, without recursion.

    Brackets inside strings do not count. Each pass removes the innermost ``[]``/``{}``
    pairs, one level, at C speed; a well-formed document at most MAX_POLICY_DEPTH deep is
    empty after that many passes. Only one that is not is walked bracket by bracket. An
    invalid document may pass here: json.loads rejects it next."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    rest = brackets
    for _ in range(MAX_POLICY_DEPTH):
        if not rest:
            return
        rest = _INNERMOST_PAIR.sub("", rest)  # one level: pairs formed by it stay
    if not rest:
        return
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > MAX_POLICY_DEPTH:
                raise _malformed(
                    f"The policy nests JSON arrays and objects more than {MAX_POLICY_DEPTH} "
                    "levels deep."
                )
        else:
            depth -= 1


def _statement(raw: object, index: int, kind: PolicyKind, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise _malformed(f"Statement {index} must be a JSON object.")
    sid = raw.get("Sid")
    if "Sid" in raw and not isinstance(sid, str):
        raise _malformed(f"Statement {index}: Sid must be a string.")
    ref = StatementRef(index, sid)
    where = str(ref)

    def fail(message: str) -> MalformedPolicyDocumentException:
        return _malformed(f"{where}: {message}")

    unknown = sorted(set(raw) - _STATEMENT_KEYS)
    if unknown:
        raise fail(f"unsupported element {unknown[0]!r}.")
    if sid is not None and kind != "resource" and not _IAM_SID.fullmatch(sid):
        raise fail("Sid must be alphanumeric ([0-9A-Za-z]*) in IAM policies.")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise fail(f"Effect must be Allow or Deny, not {effect!r}.")
    principal, not_principal = _principal(raw, kind, where, fail)
    actions = _actions(raw, fail)
    resources = _resources(raw, kind, variables, fail)
    condition: tuple[Clause, ...] = ()
    if "Condition" in raw:
        condition = compile_condition(
            raw["Condition"], where=where, variables=variables, key_policy=kind == "resource"
        )
    return Statement(
        ref,
        Effect(effect),
        principal,
        not_principal,
        actions,
        resources,
        condition,
        effect == "Deny",
    )


def _principal(
    raw: dict[str, object], kind: PolicyKind, where: str, fail: _Fail
) -> tuple[PrincipalSpec | None, bool]:
    present = [name for name in ("Principal", "NotPrincipal") if name in raw]
    if kind == "identity":
        if present:
            raise fail(f"{present[0]} is not allowed in an identity-based policy.")
        return None, False
    if len(present) != 1:
        raise fail("must have exactly one of Principal or NotPrincipal.")
    name = present[0]
    return parse_principal(raw[name], f"{where}: {name}"), name == "NotPrincipal"


def _actions(raw: dict[str, object], fail: _Fail) -> ActionMatcher:
    present = [name for name in ("Action", "NotAction") if name in raw]
    if len(present) != 1:
        raise fail("must have exactly one of Action or NotAction.")
    element = present[0]
    patterns = _string_list(raw[element], element, fail)
    for pattern in patterns:
        if not _ACTION.fullmatch(pattern):
            raise fail(f'{element} {pattern!r} must be "*" or "<service>:<action>".')
    exact: set[str] = set()
    prefixes: list[str] = []
    rest: list[tuple[tuple[str, bool], ...]] = []
    for pattern in (p.lower() for p in patterns):
        if "*" not in pattern and "?" not in pattern:
            exact.add(pattern)
        elif pattern.endswith("*") and "*" not in pattern[:-1] and "?" not in pattern:
            prefixes.append(pattern[:-1])
        else:
            rest.append(wild(pattern))
    wildcards = compile_globs(rest, ignore_case=True)
    return ActionMatcher(
        element,
        patterns,
        "*" in patterns,
        frozenset(exact),
        tuple(prefixes),
        wildcards,
        element == "Action",
    )


def _resources(
    raw: dict[str, object], kind: PolicyKind, variables: bool, fail: _Fail
) -> ResourceMatcher:
    present = [name for name in ("Resource", "NotResource") if name in raw]
    if len(present) > 1:
        raise fail("must not have both Resource and NotResource.")
    if kind == "trust" and present:
        raise fail(f"{present[0]} is not allowed in a trust policy.")
    if not present:
        if kind == "identity":
            raise fail("must have a Resource or NotResource element.")
        return ResourceMatcher("", (), (), False, None, kind == "trust")
    element = present[0]
    patterns = _string_list(raw[element], element, fail)
    for pattern in patterns:
        if pattern != "*" and not pattern.startswith("arn:"):
            raise fail(f'{element} {pattern!r} must be in ARN format or "*".')
    templates = tuple(_resource_template(p, variables) for p in patterns)
    static = None
    if all(t.static for t in templates):
        static = compile_globs([t.resolve(_absent) or () for t in templates], arn=True)
    return ResourceMatcher(element, patterns, templates, "*" in patterns, static, False)


def _resource_template(pattern: str, variables: bool) -> Template:
    """Variables are substituted only after the fifth colon ("IAM policy elements:
    Variables and tags": "only in the resource portion of the ARN")."""
    if not variables or pattern.count(":") < 5:
        return parse_template(pattern, variables=False)
    cut = _nth_colon(pattern, 5) + 1
    head, tail = pattern[:cut], parse_template(pattern[cut:], variables=True)
    if tail.parts and isinstance(tail.parts[0], str):
        return Template(pattern, (head + tail.parts[0], *tail.parts[1:]))
    return Template(pattern, (head, *tail.parts))


def _nth_colon(text: str, n: int) -> int:
    pos = -1
    for _ in range(n):
        pos = text.index(":", pos + 1)
    return pos


def _absent(key: str) -> object:
    return None


def _string_list(value: object, element: str, fail: _Fail) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise fail(f"{element} must be a string or a non-empty list of strings.")
    return tuple(str(v) for v in values)


def _check_unique_sids(statements: tuple[Statement, ...]) -> None:
    seen: set[str] = set()
    for st in statements:
        sid = st.ref.sid
        if sid:
            if sid in seen:
                raise _malformed(
                    f"{st.ref}: Statement IDs (SID) in a single policy must be unique."
                )
            seen.add(sid)


#: Hits and misses of the compiled-policy cache (``functools`` ``CacheInfo``), for metrics.
policy_cache_info = _parse_cached.cache_info
