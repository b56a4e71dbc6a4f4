"""The Principal and NotPrincipal elements of resource and trust policies.

Implements "AWS JSON policy elements: Principal" and "...: NotPrincipal"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html):

* ``"*"`` and ``{"AWS": "*"}`` are equivalent and cover every principal, anonymous too.
* ``{"AWS": "123456789012"}`` and ``{"AWS": "arn:aws:iam::123456789012:root"}`` "behave the
  same way. Both delegate permissions to the account" — they match every principal of
  the account, but only *through the account*: a KMS key policy statement naming the
  account principal "doesn't give any IAM users or roles permission to use the KMS key.
  Instead, it allows the account to use IAM policies to delegate the permissions"
  ("Default key policy"). :class:`PrincipalMatch` tells the caller which case applied.
* A role ARN matches the role's sessions; an assumed-role session ARN matches that
  session ("IAM role principals", "Role session principals").
* ``{"Service": ...}``, ``{"Federated": ...}``, ``{"CanonicalUser": ...}`` match those
  identities exactly.
* "You cannot use a wildcard to match part of a principal name or ARN."
* NotPrincipal: "AWS might validate the account first and then the user ... the account
  first, then the role, and then the assumed-role user". A principal is therefore seen as
  layers (account, role, session or user). For ``Deny`` the statement spares the
  principal only if *every* layer is listed, as the documentation's examples require; for
  ``Allow`` a principal is left out if *any* layer is listed. Both choices resolve the
  documented uncertainty ("might") toward denial.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from openkms.authz.context import Request, session_role_arn
from openkms.domain.principals import root_arn
from openkms.errors import MalformedPolicyDocumentException

_ACCOUNT = re.compile(r"\d{12}")
_PRINCIPAL_ARN = re.compile(
    r"arn:aws[a-z-]*:(?:iam::(\d{12}):(?:root|user/.+|role/.+)"
    r"|sts::(\d{12}):(?:assumed-role/[^/]+/.+|federated-user/.+))"
)
_ROOT_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):root")
_UNIQUE_ID = re.compile(r"A[A-Z0-9]{15,127}")
_KEYS = ("AWS", "Service", "Federated", "CanonicalUser")


class PrincipalMatch(StrEnum):
    DIRECT = "direct"  # the principal, its role, service or federation is named
    WILDCARD = "wildcard"  # "*" / {"AWS": "*"} (or an Allow with NotPrincipal)
    ACCOUNT = "account"  # only through its account principal (arn:aws:iam::ACCT:root)


# Enum member lookups cost more than a global read; the match below is on every request.
_DIRECT, _WILDCARD, _VIA_ACCOUNT = (
    PrincipalMatch.DIRECT,
    PrincipalMatch.WILDCARD,
    PrincipalMatch.ACCOUNT,
)


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A compiled Principal or NotPrincipal value."""

    wildcard: bool
    arns: frozenset[str]  # principal ARNs (incl. account roots) and unique IDs
    accounts: frozenset[str]
    services: frozenset[str]  # lower-cased
    federated: frozenset[str]
    canonical_users: frozenset[str]
    shown: str

    def match(self, request: Request) -> PrincipalMatch | None:
        """How a Principal element covers the request's principal, if it does."""
        if self.wildcard:
            return _WILDCARD
        principal = request.principal_arn
        if principal in self.arns or (
            (self.services or self.federated or self.canonical_users) and self._names(principal)
        ):
            return _DIRECT
        if request.principal_aliases or ":assumed-role/" in principal:
            for identity in request.identities()[1:]:
                if self._names(identity):
                    return _DIRECT
        if request.principal_account and request.principal_account in self.accounts:
            if principal.endswith(":root") and _ROOT_ARN.fullmatch(principal):
                return _DIRECT  # the account root itself, in any partition
            return _VIA_ACCOUNT
        return None

    def excludes(self, request: Request, *, deny: bool) -> bool:
        """Whether a NotPrincipal element leaves the request's principal out."""
        if self.wildcard:
            return True
        layers = self._layers(request)
        return all(layers) if deny else any(layers)

    def _names(self, identity: str) -> bool:
        return (
            identity in self.arns
            or (bool(self.services) and identity.lower() in self.services)
            or identity in self.federated
            or identity in self.canonical_users
        )

    def _layers(self, request: Request) -> list[bool]:
        principal = request.principal_arn
        if not request.principal_account:  # service principal or anonymous
            return [any(self._names(i) for i in request.identities())]
        account = request.principal_account in self.accounts
        if _ROOT_ARN.fullmatch(principal):
            return [account or principal in self.arns]
        role = session_role_arn(principal)
        if role is None:
            return [account, any(self._names(i) for i in request.identities())]
        role_listed = any(a in self.arns for a in request.identities()[1:])
        return [account, role_listed, principal in self.arns]


def parse_principal(raw: object, where: str) -> PrincipalSpec:
    """Validate and compile a Principal or NotPrincipal value; ``where`` names it."""

    def fail(message: str) -> MalformedPolicyDocumentException:
        return MalformedPolicyDocumentException(f"{where} {message}")

    if raw == "*":
        empty: frozenset[str] = frozenset()
        return PrincipalSpec(True, empty, empty, empty, empty, empty, "*")
    if not isinstance(raw, dict) or not raw:
        raise fail(
            'must be "*" or a non-empty object with AWS, Service, Federated or CanonicalUser'
        )
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise fail(f"has an invalid principal type {unknown[0]!r}")
    entries = {name: _strings(raw[name], name, fail) for name in _KEYS if name in raw}
    wildcard = False
    arns: set[str] = set()
    accounts: set[str] = set()
    for value in entries.get("AWS", ()):
        if value == "*":
            wildcard = True
        elif _ACCOUNT.fullmatch(value):
            accounts.add(value)
            arns.add(root_arn(value))
        elif "*" in value or "?" in value:
            raise fail(
                f"AWS principal {value!r}: wildcards cannot match part of a principal; use "
                '"*" with a Condition on aws:PrincipalArn instead'
            )
        elif (m := _PRINCIPAL_ARN.fullmatch(value)) is not None:
            arns.add(value)
            if _ROOT_ARN.fullmatch(value):
                accounts.add(m.group(1))
        elif _UNIQUE_ID.fullmatch(value):
            arns.add(value)
        else:
            raise fail(f'AWS principal {value!r} is not an account ID, principal ARN or "*"')
    for name in ("Service", "Federated", "CanonicalUser"):
        for value in entries.get(name, ()):
            if "*" in value:
                raise fail(f"{name} principal {value!r}: wildcards are not allowed")
    shown = ", ".join(f"{k}: {', '.join(v)}" for k, v in entries.items())
    return PrincipalSpec(
        wildcard,
        frozenset(arns),
        frozenset(accounts),
        frozenset(s.lower() for s in entries.get("Service", ())),
        frozenset(entries.get("Federated", ())),
        frozenset(entries.get("CanonicalUser", ())),
        shown,
    )


def _strings(raw: object, name: str, fail: Callable[[str], Exception]) -> tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise fail(f"{name} must be a non-empty string or a non-empty list of strings")
    return tuple(str(v) for v in values)
