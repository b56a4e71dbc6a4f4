"""The IAM/STS operation registry: for every operation, how to find the resource it acts
on, how it is authorized, whether it writes, and its handler.

Handlers never authorize: :mod:`.dispatch` resolves the operation's :class:`Target`
(reading the entity, so that the resource ARN carries its path and tags), authorizes
the declared action on it, and only then calls the handler, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from openkms.crypto.keyring import Keyring
from openkms.domain.identities import Role, User
from openkms.service.context import RequestContext
from openkms.storage.repository import Tx


class Check(StrEnum):
    IDENTITY = "identity"  # the caller's identity policies (authorize_iam)
    TRUST = "trust"  # AssumeRole: the role's trust policy and the caller's identity policies
    NONE = "none"  # no permission needed (sts:GetCallerIdentity)


@dataclass(frozen=True, slots=True)
class Target:
    """What an operation acts on.

    ``name`` is the user or role name the request names (or implies); None when the
    caller's own root user is meant. ``entity`` is the stored user or role, None when
    it does not exist (yet). ``context`` holds the resource- and request-specific
    condition keys (``aws:ResourceTag/..``, ``aws:RequestTag/..``, ``sts:ExternalId`` ..).
    """

    arn: str
    name: str | None = None
    entity: User | Role | None = None
    context: Mapping[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class IdentityCall:
    ctx: RequestContext
    params: dict[str, Any]
    tx: Tx
    keyring: Keyring
    target: Target

    @property
    def account(self) -> str:
        return self.ctx.principal.account


Handler = Callable[[IdentityCall], dict[str, Any]]
Resolver = Callable[[RequestContext, dict[str, Any], Tx], Target]


@dataclass(frozen=True, slots=True)
class IdentityOperation:
    service: str  # "iam" or "sts"
    name: str
    handler: Handler
    resolve: Resolver
    check: Check
    writes: bool

    @property
    def action(self) -> str:
        return f"{self.service}:{self.name}"


REGISTRY: dict[tuple[str, str], IdentityOperation] = {}


def operation(
    service: str,
    name: str,
    *,
    resolve: Resolver,
    check: Check = Check.IDENTITY,
    writes: bool = False,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if (service, name) in REGISTRY:
            raise RuntimeError(f"operation {service}:{name} registered twice")
        REGISTRY[(service, name)] = IdentityOperation(
            service, name, handler, resolve, check, writes
        )
        return handler

    return register
