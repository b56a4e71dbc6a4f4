"""STS: GetCallerIdentity and AssumeRole.

AssumeRole issues temporary credentials: an ``ASIA`` access key id, a secret key
(stored only wrapped under the root keyring) and a session token (stored only as its
SHA-256). Requests signed with them must carry the token (``X-Amz-Security-Token``);
after ``Expiration`` they fail with ``ExpiredToken``. The session's principal is
``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`` with UserId ``ROLEID:SESSION``; its
``aws:PrincipalTag`` keys are the role's tags overlaid with the session tags.
"""

from __future__ import annotations

from typing import Any

from openkms.authz import parse_policy
from openkms.crypto import contexts
from openkms.domain.identities import (
    USER_INLINE_POLICY_CHARS,
    Role,
    Session,
    check_request_tags,
    merge_tags,
    new_secret_access_key,
    new_session_key_id,
    new_session_token,
    policy_size,
    session_duration,
    token_hash,
)
from openkms.domain.principals import PrincipalKind
from openkms.errors import UnsupportedOperation, ValidationError
from openkms.service.identity import targets
from openkms.service.identity.registry import Check, IdentityCall, IdentityOperation, operation
from openkms.storage.identity import repository as identity_records

STS = "sts"
#: Expired sessions are kept this long, so that their use reports ExpiredToken.
EXPIRED_SESSION_RETENTION = 7 * 86_400
_UNSUPPORTED = ("PolicyArns", "SerialNumber", "TokenCode", "ProvidedContexts")


@operation(STS, "GetCallerIdentity", resolve=targets.caller, check=Check.NONE)
def get_caller_identity(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html

    "No permissions are required to perform this operation." """
    p = call.ctx.principal
    return {"UserId": p.principal_id, "Account": p.account, "Arn": p.arn}


@operation(STS, "AssumeRole", resolve=targets.assumed_role, check=Check.TRUST, writes=True)
def assume_role(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html"""
    p = call.params
    for name in _UNSUPPORTED:
        if p.get(name):
            raise UnsupportedOperation(
                f"AssumeRole with {name} is not supported by this OpenKMS server."
            )
    role = call.target.entity
    assert isinstance(role, Role)  # authorization refused a missing role
    caller = call.ctx.principal
    chained = caller.kind is PrincipalKind.ASSUMED_ROLE
    duration = session_duration(p.get("DurationSeconds"), role.max_session_duration, chained)
    policy = p.get("Policy")
    if policy is not None:
        if policy_size(policy) > USER_INLINE_POLICY_CHARS:
            raise ValidationError(
                "1 validation error detected: Value at 'policy' failed to satisfy constraint: "
                f"Member must have length less than or equal to {USER_INLINE_POLICY_CHARS}"
            )
        parse_policy(policy, "identity")
    session_tags = check_request_tags((t["Key"], t["Value"]) for t in p.get("Tags") or ())
    now = call.ctx.now
    session = Session(
        access_key_id=new_session_key_id(),
        account=role.account,
        role_arn=role.arn,
        role_id=role.role_id,
        session_name=p["RoleSessionName"],
        source_arn=caller.arn,
        tags=merge_tags(role.tags, session_tags, "TagsPerSession"),
        session_policy=policy,
        chained=chained,
        created_at=now,
        expires_at=float(int(now) + duration),
    )
    secret, token = new_secret_access_key(), new_session_token()
    wrapped = call.keyring.wrap(secret.encode(), contexts.session_secret(session.access_key_id))
    identity_records.purge_sessions(call.tx, now - EXPIRED_SESSION_RETENTION)
    identity_records.insert_session(call.tx, session, token_hash(token), wrapped)
    result: dict[str, Any] = {
        "Credentials": {
            "AccessKeyId": session.access_key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": session.expires_at,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{session.session_name}",
            "Arn": f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session.session_name}",
        },
    }
    if policy is not None or session_tags:
        packed = policy_size(policy or "") + sum(len(k) + len(v) for k, v in session_tags)
        result["PackedPolicySize"] = min(100, packed * 100 // USER_INLINE_POLICY_CHARS)
    if p.get("SourceIdentity") is not None:
        result["SourceIdentity"] = p["SourceIdentity"]
    return result


OPERATIONS: tuple[IdentityOperation, ...] = (
    get_caller_identity,
    assume_role,
)
