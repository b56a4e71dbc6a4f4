"""Authenticated callers: an account root, an IAM user, or an assumed-role session.

The kinds are CloudTrail's ``userIdentity.type`` values ("CloudTrail userIdentity
element", https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
``principal_id`` is what ``sts:GetCallerIdentity`` reports as ``UserId``: the account id
for the root user, the user's unique id (``AIDA...``) for an IAM user, and
``<role id>:<session name>`` for a role session.

:meth:`Principal.identities` is the one answer to "which ARNs does this caller answer
to": policy evaluation, grants (grantee and retiring principal) and ``authz explain``
all use it, so a role with a path (``role/app/deployer``) is the same caller everywhere.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from enum import StrEnum


def root_arn(account: str) -> str:
    """The ARN of an account's root user, ``arn:aws:iam::ACCT:root``: the account
    principal of key policies and grants ("AWS account principals",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts)."""
    return f"arn:aws:iam::{account}:root"


def is_root_arn(arn: str, account: str) -> bool:
    """Whether ``arn`` is the root user of ``account`` (exactly: no other partition, no
    other account)."""
    return arn == root_arn(account)


class PrincipalKind(StrEnum):
    ROOT = "Root"
    IAM_USER = "IAMUser"
    ASSUMED_ROLE = "AssumedRole"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``account``, ``arn`` and ``access_key_id`` are always set; ``kind`` defaults to the
    account root, which is what ``Principal(account, arn, key)`` meant before IAM
    identities existed (use the named constructors for the other kinds).
    """

    account: str
    arn: str
    access_key_id: str
    kind: PrincipalKind = PrincipalKind.ROOT
    principal_id: str = ""
    user_name: str | None = None  # IAM users only
    tags: tuple[tuple[str, str], ...] = ()  # aws:PrincipalTag/<key>
    role_arn: str | None = None  # sessions: the assumed role's ARN, with its path
    session_name: str | None = None
    expiration: float | None = None  # sessions: epoch seconds
    session_policy: str | None = None  # sessions: the inline session policy, if any

    def __reduce__(self) -> tuple[type[Principal], tuple[object, ...]]:
        """Pickled as the tuple of its fields (an audit record on its way to the writer
        process): quicker than the generic form of a slotted dataclass."""
        return (Principal, _principal_fields(self))

    @classmethod
    def root(cls, account: str, access_key_id: str) -> Principal:
        return cls(
            account=account,
            arn=root_arn(account),
            access_key_id=access_key_id,
            principal_id=account,
        )

    @classmethod
    def user(
        cls,
        account: str,
        arn: str,
        access_key_id: str,
        *,
        user_id: str,
        user_name: str,
        tags: tuple[tuple[str, str], ...] = (),
    ) -> Principal:
        return cls(
            account=account,
            arn=arn,
            access_key_id=access_key_id,
            kind=PrincipalKind.IAM_USER,
            principal_id=user_id,
            user_name=user_name,
            tags=tags,
        )

    @classmethod
    def assumed_role(
        cls,
        account: str,
        access_key_id: str,
        *,
        role_arn: str,
        role_id: str,
        session_name: str,
        expiration: float,
        tags: tuple[tuple[str, str], ...] = (),
        session_policy: str | None = None,
    ) -> Principal:
        role_name = role_arn.rsplit("/", 1)[-1]
        return cls(
            account=account,
            arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
            access_key_id=access_key_id,
            kind=PrincipalKind.ASSUMED_ROLE,
            principal_id=f"{role_id}:{session_name}",
            tags=tags,
            role_arn=role_arn,
            session_name=session_name,
            expiration=expiration,
            session_policy=session_policy,
        )

    @property
    def is_root(self) -> bool:
        """The account's root user (kind and ARN must agree: a principal built with the
        default kind and some other ARN is not mistaken for a root, fail closed)."""
        return self.kind is PrincipalKind.ROOT and is_root_arn(self.arn, self.account)

    @property
    def principal_arn(self) -> str:
        """``aws:PrincipalArn``: for a role session the role's ARN (with its path), else the
        caller's ARN ("AWS global condition context keys": "For IAM roles, the request
        context returns the ARN of the role, not the ARN of the user that assumed the
        role")."""
        return self.role_arn or self.arn

    @property
    def unique_id(self) -> str | None:
        """The IAM unique id behind the caller (``AIDA...`` of a user, ``AROA...`` of a
        session's role); None for an account root."""
        if self.kind is PrincipalKind.IAM_USER:
            return self.principal_id or None
        if self.kind is PrincipalKind.ASSUMED_ROLE:
            return self.principal_id.split(":", 1)[0] or None
        return None

    def identities(self) -> tuple[str, ...]:
        """The ARNs this caller answers to: its own ARN first and, for a role session,
        its role's ARN with the role's path."""
        if self.role_arn is None or self.role_arn == self.arn:
            return (self.arn,)
        return (self.arn, self.role_arn)


_principal_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Principal)))
