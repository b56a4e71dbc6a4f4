"""The authorization chokepoint. Only :mod:`openkms.service.dispatch` calls it.

Invariant: an operation on a key runs only after :func:`authorize` returned for
that key and the operation's action. AWS's rule is "key policy first": a principal
gets access only through the key policy, alone or together with IAM policies or
grants ("Determining access to an AWS KMS key",
https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html).

Until IAM identities and policy evaluation land, every authenticated caller is an
account root and keys keep AWS's default policy semantics for their own account:
the owning account's root is allowed, every other account is denied. The deny is
the default; nothing here can allow a caller from another account.
"""

from __future__ import annotations

from openkms.domain.keys import Key
from openkms.errors import AccessDeniedException
from openkms.service.context import RequestContext


def authorize(ctx: RequestContext, action: str, key: Key) -> None:
    if key.account == ctx.principal.account:
        return
    raise AccessDeniedException(
        f"User: {ctx.principal.arn} is not authorized to perform: {action} on resource: "
        f"{key.arn} because no resource-based policy allows the {action} action"
    )
