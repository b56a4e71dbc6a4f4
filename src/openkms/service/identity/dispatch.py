"""IdentityService: the single entry point of IAM and STS requests.

``dispatch`` is the chokepoint every IAM/STS request passes through, in one
transaction: resolve the operation's target → authorize the declared action on it
(:mod:`.authorize`) → run the handler → commit. Any failure rolls the whole request
back. After a commit that changed an access key, ``on_key_change`` is told the key
id, so that the credential cache of this process forgets it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openkms.crypto.keyring import Keyring
from openkms.domain.identities import Role
from openkms.errors import UnsupportedOperation
from openkms.service.context import RequestContext
from openkms.service.identity import access_keys, roles, sts, users
from openkms.service.identity.authorize import (
    authorize_assume_role,
    authorize_iam,
    request_context,
)
from openkms.service.identity.registry import (
    Check,
    IdentityCall,
    IdentityOperation,
    registry_of,
)
from openkms.storage.repository import Store

#: Every IAM and STS operation this server serves, by (service, name).
REGISTRY: dict[tuple[str, str], IdentityOperation] = registry_of(
    users.OPERATIONS,
    roles.OPERATIONS,
    access_keys.OPERATIONS,
    sts.OPERATIONS,
)

#: Operations after which the access key named by ``AccessKeyId`` must be re-read.
KEY_CHANGES = frozenset({"UpdateAccessKey", "DeleteAccessKey"})


class IdentityService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        on_key_change: Callable[[str], None] = lambda access_key_id: None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.on_key_change = on_key_change

    def dispatch(
        self, service: str, ctx: RequestContext, name: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        op = REGISTRY.get((service, name))
        if op is None:
            raise UnsupportedOperation(f"{name} is not supported by this OpenKMS server yet.")
        with self.store.transaction(write=op.writes) as tx:
            target = op.resolve(ctx, params, tx)
            if op.check is Check.IDENTITY:
                context = request_context(ctx, target.context)
                authorize_iam(tx, ctx.principal, op.action, target.arn, context)
            elif op.check is Check.TRUST:
                role = target.entity if isinstance(target.entity, Role) else None
                context = request_context(ctx, target.context)
                authorize_assume_role(tx, ctx.principal, target.arn, role, context)
            result = op.handler(IdentityCall(ctx, params, tx, self.keyring, target))
        if name in KEY_CHANGES:
            self.on_key_change(params["AccessKeyId"])
        return result
