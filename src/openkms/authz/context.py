"""The request an authorization decision is about, and its case-insensitive context.

"Condition key *names* are not case-sensitive. For example, including the
``aws:SourceIP`` condition key is equivalent to testing for ``AWS:SourceIp``"
("IAM JSON policy elements: Condition",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html).

Context values are ``str``, ``bool``, ``int``, ``float``, ``datetime``, ``bytes`` (for
``BinaryEquals``) or a list/tuple of those (a multi-valued key such as
``kms:EncryptionContextKeys``). ``None`` means the key is absent. The evaluator reads the
context only; building it (``kms:CallerAccount``, ``aws:PrincipalArn``,
``kms:EncryptionContext:<k>`` ...) is the caller's job. If the caller supplies two keys
that differ only by case, their values are merged into one multi-valued key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_ASSUMED_ROLE = re.compile(r"arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/.+")


@dataclass(frozen=True)
class Request:
    """One authorization question: may this principal do this action on this resource?

    ``principal_arn`` is e.g. ``arn:aws:iam::111122223333:user/alice``,
    ``arn:aws:sts::111122223333:assumed-role/R/S``, ``arn:aws:iam::111122223333:root``,
    or a service principal such as ``ec2.amazonaws.com`` (then ``principal_account`` is
    ``""``). ``principal_aliases`` are other identifiers of the same principal, e.g. the
    role ARN (with its path) of an assumed-role session.
    """

    principal_arn: str
    principal_account: str
    action: str
    resource: str
    context: Mapping[str, object] = field(default_factory=dict)
    principal_aliases: tuple[str, ...] = ()

    def identities(self) -> tuple[str, ...]:
        """The principal ARN and its aliases. The service builds requests from
        :meth:`openkms.domain.principals.Principal.identities` (a session's role ARN with
        its path); a bare request for a session ARN without aliases falls back to the
        path-less role ARN the session ARN implies."""
        if self.principal_aliases:
            return (self.principal_arn, *self.principal_aliases)
        role = session_role_arn(self.principal_arn)
        return (self.principal_arn,) if role is None else (self.principal_arn, role)


def session_role_arn(principal_arn: str) -> str | None:
    """``arn:aws:iam::A:role/R`` for ``arn:aws:sts::A:assumed-role/R/S``; else ``None``.

    The session ARN carries no role path; callers that know it pass the full role ARN in
    ``principal_aliases`` (aws:PrincipalArn semantics).
    """
    if ":assumed-role/" not in principal_arn:
        return None
    match = _ASSUMED_ROLE.fullmatch(principal_arn)
    if match is None:
        return None
    partition, account, role = match.groups()
    return f"arn:{partition}:iam::{account}:role/{role}"


class Context:
    """Case-insensitive, lazily indexed view of a request context."""

    __slots__ = ("_raw", "_index")

    def __init__(self, raw: Mapping[str, object]) -> None:
        self._raw = raw
        self._index: dict[str, object] | None = None

    def get(self, key_lower: str) -> object:
        """The value for a lower-cased key, or ``None`` when absent."""
        index = self._index
        if index is None:
            index = self._index = _build_index(self._raw)
        return index.get(key_lower)

    def values(self, key_lower: str) -> tuple[object, ...] | None:
        """The key's values as a tuple (``()`` for an empty list); ``None`` when absent."""
        return as_values(self.get(key_lower))


def _build_index(raw: Mapping[str, object]) -> dict[str, object]:
    index: dict[str, object] = {}
    for key, value in raw.items():
        lower = key.lower()
        if lower in index and value is not None:
            previous = as_values(index[lower]) or ()
            index[lower] = [*previous, *(as_values(value) or ())]
        elif value is not None:
            index[lower] = value
    return index


def as_values(value: object) -> tuple[object, ...] | None:
    if value is None:
        return None
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(v for v in value if v is not None)
    return (value,)
