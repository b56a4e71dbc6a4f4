"""The Condition element: operators, set qualifiers, ``IfExists`` and ``Null``.

Implements "IAM JSON policy elements: Condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)
and "Creating a condition with multiple keys or values"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html):

* Every operator block must hold (AND); within a block every key must hold (AND); the
  values listed for one key are alternatives (OR). A negated operator (``StringNotEquals``,
  ``NumericNotEquals``, ``NotIpAddress``, ``ArnNotLike`` ...) holds when the request value
  matches *none* of the listed values.
* Missing key: "If the key that you specify in a policy condition is not present in the
  request context, the values do not match and the condition is false. If the policy
  condition requires that the key is not matched, such as StringNotLike or ArnNotLike,
  and the right key is not present, the condition is true. This logic applies to all
  condition operators except ...IfExists and Null check."
* ``...IfExists``: "If the key is not present, evaluate the condition element as true."
  Allowed on every operator "except the Null condition".
* ``Null``: ``true`` means "the key doesn't exist — it is null", ``false`` that "the key
  exists and its value is not null".
* ``ForAnyValue``: true "if any one of the key values in the request matches any one of
  the condition values in the policy". ``ForAllValues``: true "if there's a match between
  every one of the specified key values in the request and at least one value in the
  policy". "If the key values in the request resolve to an empty data set (for example,
  an empty string), a condition operator modified by ForAllValues returns true, and a
  condition operator modified by ForAnyValue returns false." With a negated operator the
  per-value test is "matches none of the policy values".
* A multi-valued context key used without a set qualifier matches when any of its values
  matches (negated: when none does).
* Policy variables are substituted only in String and ARN operators ("IAM policy
  elements: Variables and tags": "You can't use a policy variable with other operators,
  such as Numeric, Date, Boolean, Binary, IP Address, or Null operators").
* AWS KMS refuses ``ForAllValues`` with ``kms:EncryptionContext:<k>`` or
  ``aws:RequestTag/<k>`` ("AWS KMS condition keys", OverlyPermissiveCondition); this is
  checked for key policies.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from openkms.authz import values as typed_values
from openkms.authz.context import Context
from openkms.authz.patterns import compile_globs, is_arn
from openkms.authz.variables import Template, parse_template, scalar_text
from openkms.errors import MalformedPolicyDocumentException

Predicate = Callable[[object], bool]
"""Does one context value match any of the policy values?"""


class SetOperator(StrEnum):
    FOR_ALL_VALUES = "ForAllValues"
    FOR_ANY_VALUE = "ForAnyValue"


class Family(Enum):
    STRING = "string"
    STRING_IGNORE_CASE = "string-ignore-case"
    STRING_LIKE = "string-like"
    NUMERIC = "numeric"
    DATE = "date"
    BOOL = "bool"
    BINARY = "binary"
    IP = "ip"
    ARN = "arn"
    NULL = "null"


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _operators() -> dict[str, tuple[str, Family, bool, str]]:
    table: dict[str, tuple[Family, bool, str]] = {
        "StringEquals": (Family.STRING, False, "eq"),
        "StringNotEquals": (Family.STRING, True, "eq"),
        "StringEqualsIgnoreCase": (Family.STRING_IGNORE_CASE, False, "eq"),
        "StringNotEqualsIgnoreCase": (Family.STRING_IGNORE_CASE, True, "eq"),
        "StringLike": (Family.STRING_LIKE, False, "eq"),
        "StringNotLike": (Family.STRING_LIKE, True, "eq"),
        "Bool": (Family.BOOL, False, "eq"),
        "BinaryEquals": (Family.BINARY, False, "eq"),
        "IpAddress": (Family.IP, False, "eq"),
        "NotIpAddress": (Family.IP, True, "eq"),
        "ArnEquals": (Family.ARN, False, "eq"),
        "ArnLike": (Family.ARN, False, "eq"),
        "ArnNotEquals": (Family.ARN, True, "eq"),
        "ArnNotLike": (Family.ARN, True, "eq"),
        "Null": (Family.NULL, False, "eq"),
    }
    for prefix, family in (("Numeric", Family.NUMERIC), ("Date", Family.DATE)):
        table[f"{prefix}Equals"] = (family, False, "eq")
        table[f"{prefix}NotEquals"] = (family, True, "eq")
        for suffix, cmp in (("LessThan", "lt"), ("GreaterThan", "gt")):
            table[f"{prefix}{suffix}"] = (family, False, cmp)
            table[f"{prefix}{suffix}Equals"] = (family, False, cmp[0] + "e")
    return {name.lower(): (name, *spec) for name, spec in table.items()}


OPERATORS = _operators()
_SINGLE_VALUED_IN_KMS = ("kms:encryptioncontext:", "aws:requesttag/")


# --------------------------------------------------------------------------- matchers


class _Strings:
    """String and ARN operators; the only ones whose values may hold policy variables."""

    def __init__(self, templates: Sequence[Template], family: Family) -> None:
        self._templates = tuple(templates)
        self._family = family
        self._static: Predicate | None = None
        if all(t.static for t in self._templates):
            self._static = self._build([t.resolve(_no_lookup) for t in self._templates])

    def bind(self, ctx: Context) -> Predicate:
        if self._static is not None:
            return self._static
        return self._build([t.resolve(ctx.get) for t in self._templates])

    def _build(self, resolved: list[tuple[tuple[str, bool], ...] | None]) -> Predicate:
        pieces = [p for p in resolved if p is not None]  # unresolved variables match nothing
        family = self._family
        if family is Family.STRING:
            exact = frozenset("".join(t for t, _ in p) for p in pieces)
            return lambda v: scalar_text(v) in exact
        if family is Family.STRING_IGNORE_CASE:
            folded = frozenset("".join(t for t, _ in p).lower() for p in pieces)
            return lambda v: (s := scalar_text(v)) is not None and s.lower() in folded
        arn = family is Family.ARN
        globs = compile_globs(pieces, arn=arn)
        if globs is None:
            return _never
        match = globs.matches
        if arn:
            return lambda v: isinstance(v, str) and is_arn(v) and match(v)
        return lambda v: (s := scalar_text(v)) is not None and match(s)


class _Typed:
    """Numeric, Date, Bool, Binary and IP operators: values converted once."""

    def __init__(self, predicate: Predicate) -> None:
        self._predicate = predicate

    def bind(self, ctx: Context) -> Predicate:
        return self._predicate


def _no_lookup(key: str) -> object:
    return None


def _never(value: object) -> bool:
    return False


def _typed(family: Family, cmp: str, raw: list[object], fail: Callable[[str], Exception]) -> _Typed:
    if family is Family.NUMERIC:
        numbers = [_convert(typed_values.number_of, v, "a number", fail) for v in raw]
        compare = _COMPARE[cmp]
        return _Typed(
            lambda v: (
                (n := typed_values.number_of(v)) is not None and any(compare(n, p) for p in numbers)
            )
        )
    if family is Family.DATE:
        stamps = [
            _convert(typed_values.timestamp_of, v, "an ISO 8601 date or epoch time", fail)
            for v in raw
        ]
        compare = _COMPARE[cmp]
        return _Typed(
            lambda v: (
                (t := typed_values.timestamp_of(v)) is not None
                and any(compare(t, p) for p in stamps)
            )
        )
    if family is Family.BOOL:
        flags = frozenset(_convert(typed_values.bool_of, v, '"true" or "false"', fail) for v in raw)
        return _Typed(lambda v: typed_values.bool_of(v) in flags)
    if family is Family.BINARY:
        blobs = frozenset(_convert(typed_values.binary_of_policy, v, "base64", fail) for v in raw)
        return _Typed(lambda v: typed_values.binary_of_context(v) in blobs)
    networks = [
        _convert(typed_values.network_of, v, "an IP address or CIDR block", fail) for v in raw
    ]
    return _Typed(lambda v: _in_networks(typed_values.address_of(v), networks))


def _in_networks(
    address: typed_values.IPAddress | None, networks: list[typed_values.IPNetwork]
) -> bool:
    if address is None:
        return False
    return any(address.version == n.version and address in n for n in networks)


def _convert(
    convert: Callable[[object], Any], value: object, what: str, fail: Callable[[str], Exception]
) -> Any:
    converted = convert(value)
    if converted is None:
        raise fail(f"value {value!r} is not {what}")
    return converted


# --------------------------------------------------------------------------- clauses


@dataclass(frozen=True, slots=True)
class Clause:
    """One ``operator: {key: values}`` entry of a Condition block."""

    operator: str  # canonical spelling, e.g. "ForAnyValue:StringEqualsIfExists"
    key: str  # as written in the policy
    key_lower: str
    family: Family
    negated: bool
    if_exists: bool
    set_operator: SetOperator | None
    policy_values: tuple[str, ...]
    matcher: _Strings | _Typed | None  # None for Null
    null_expect: frozenset[bool]  # Null: True = "key must be absent"

    def evaluate(self, ctx: Context) -> bool:
        values = ctx.values(self.key_lower)
        if self.matcher is None:
            return (not values) in self.null_expect
        if not values or (self.set_operator is not None and values == ("",)):
            if self.if_exists or self.set_operator is SetOperator.FOR_ALL_VALUES:
                return True
            if self.set_operator is SetOperator.FOR_ANY_VALUE:
                return False
            return self.negated
        pred = self.matcher.bind(ctx)
        negated = self.negated
        if self.set_operator is SetOperator.FOR_ALL_VALUES:
            return all(pred(v) != negated for v in values)
        if self.set_operator is SetOperator.FOR_ANY_VALUE:
            return any(pred(v) != negated for v in values)
        return any(pred(v) for v in values) != negated

    def explain(self, ctx: Context) -> tuple[bool, str]:
        """The outcome and a sentence saying why, for ``openkms authz explain``."""
        passed = self.evaluate(ctx)
        wanted = ", ".join(self.policy_values)
        values = ctx.values(self.key_lower)
        if not values:
            seen = "is not present in the request"
        else:
            seen = "has " + ", ".join(repr(v) for v in values)
        verdict = "holds" if passed else "fails"
        return passed, f"{self.operator} {self.key} [{wanted}]: key {seen}; condition {verdict}"


def compile_condition(
    raw: object, *, where: str, variables: bool, key_policy: bool
) -> tuple[Clause, ...]:
    """Validate a Condition element and compile it into clauses (ANDed)."""

    def fail(message: str) -> MalformedPolicyDocumentException:
        return MalformedPolicyDocumentException(f"{where}: Condition {message}")

    if not isinstance(raw, dict):
        raise fail("must be a JSON object of operator -> {key: value(s)}")
    clauses: list[Clause] = []
    for op_name, block in raw.items():
        set_op, canonical, family, negated, cmp, if_exists = _parse_operator(op_name, fail)
        if not isinstance(block, dict):
            raise fail(f"operator {op_name} must map condition keys to values")
        for key, raw_values in block.items():
            if not key:
                raise fail(f"operator {op_name} has an empty condition key")
            fail_value = _prefixed(fail, f"{op_name} {key}: ")
            vals = _value_list(raw_values, fail_value)
            if key_policy and set_op is SetOperator.FOR_ALL_VALUES:
                _check_overly_permissive(key, where)
            spec = (family, negated, cmp, if_exists, set_op)
            clauses.append(_clause(canonical, key, spec, vals, variables, fail_value))
    return tuple(clauses)


def _prefixed(
    fail: Callable[[str], MalformedPolicyDocumentException], prefix: str
) -> Callable[[str], MalformedPolicyDocumentException]:
    return lambda message: fail(prefix + message)


def _parse_operator(
    name: str, fail: Callable[[str], Exception]
) -> tuple[SetOperator | None, str, Family, bool, str, bool]:
    set_op: SetOperator | None = None
    rest = name
    for candidate in SetOperator:
        prefix = candidate.value + ":"
        if name.lower().startswith(prefix.lower()):
            set_op, rest = candidate, name[len(prefix) :]
    if_exists = False
    spec = OPERATORS.get(rest.lower())
    if spec is None and rest.lower().endswith("ifexists"):
        spec = OPERATORS.get(rest.lower()[: -len("ifexists")])
        if_exists = True
    if spec is None:
        raise fail(f"operator {name!r} is not a valid condition operator")
    canonical, family, negated, cmp = spec
    if family is Family.NULL and if_exists:
        raise fail("operator NullIfExists is not valid: Null does not take the IfExists suffix")
    if family is Family.NULL and set_op is not None:
        raise fail(f"operator {name!r} is not valid: Null does not take a set operator")
    full = (f"{set_op.value}:" if set_op else "") + canonical + ("IfExists" if if_exists else "")
    return set_op, full, family, negated, cmp, if_exists


def _value_list(raw: object, fail: Callable[[str], Exception]) -> list[object]:
    vals = raw if isinstance(raw, list) else [raw]
    if not vals:
        raise fail("needs at least one value")
    for v in vals:
        if not isinstance(v, str | bool | int | float):
            raise fail(f"value {v!r} must be a string, number or boolean")
    return vals


def _check_overly_permissive(key: str, where: str) -> None:
    lowered = key.lower()
    if lowered.startswith(_SINGLE_VALUED_IN_KMS):
        what = "encryption context" if lowered.startswith("kms:") else "tag"
        raise MalformedPolicyDocumentException(
            f"{where}: OverlyPermissiveCondition: Using the ForAllValues set operator with a "
            f"single-valued condition key ({key}) matches requests without the specified "
            f"{what} or with an unspecified {what}. To fix, remove ForAllValues."
        )


def _clause(
    canonical: str,
    key: str,
    spec: tuple[Family, bool, str, bool, SetOperator | None],
    vals: list[object],
    variables: bool,
    fail: Callable[[str], Exception],
) -> Clause:
    family, negated, cmp, if_exists, set_op = spec
    shown = tuple(_show(v) for v in vals)
    matcher: _Strings | _Typed | None = None
    null_expect: frozenset[bool] = frozenset()
    if family is Family.NULL:
        null_expect = frozenset(
            _convert(typed_values.bool_of, v, '"true" or "false"', fail) for v in vals
        )
    elif family in (Family.STRING, Family.STRING_IGNORE_CASE, Family.STRING_LIKE, Family.ARN):
        texts = [v if isinstance(v, str) else _show(v) for v in vals]
        matcher = _Strings([parse_template(t, variables=variables) for t in texts], family)
    else:
        matcher = _typed(family, cmp, vals, fail)
    return Clause(
        canonical, key, key.lower(), family, negated, if_exists, set_op, shown, matcher, null_expect
    )


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
