"""The IAM/STS operation registry: for every operation, how to find the resource it acts
on, how it is authorized, whether it writes, and its handler.

Handlers never authorize: :mod:`.dispatch` resolves the operation's :class:`Target`
(reading the entity, so that the resource ARN carries its path and tags), authorizes
the declared action on it, and only then calls the handler, all in one transaction.

Each handler module declares its operations with :func:`operation` and lists them in its
``OPERATIONS``; :mod:`openkms.service.identity.dispatch` builds the registry from those
lists (:func:`registry_of`), as :mod:`openkms.service.kms.registry` does, so importing a
module registers nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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


def operation(
    service: str,
    name: str,
    *,
    resolve: Resolver,
    check: Check = Check.IDENTITY,
    writes: bool = False,
) -> Callable[[Handler], IdentityOperation]:
    """Declare an operation served by the decorated handler (served only when its
    module's ``OPERATIONS`` is given to :func:`registry_of`)."""

    def declare(handler: Handler) -> IdentityOperation:
        return IdentityOperation(service, name, handler, resolve, check, writes)

    return declare


def registry_of(
    *families: Iterable[IdentityOperation],
) -> dict[tuple[str, str], IdentityOperation]:
    """The operations of every family (one handler module's ``OPERATIONS`` each), by
    ``(service, name)``; an operation declared twice is refused."""
    registry: dict[tuple[str, str], IdentityOperation] = {}
    for family in families:
        for op in family:
            key = (op.service, op.name)
            if key in registry:
                raise RuntimeError(f"operation {op.service}:{op.name} registered twice")
            registry[key] = op
    return registry
