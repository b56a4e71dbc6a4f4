"""``openkms authz explain``: why a principal may or may not perform an action on a key.

It runs the same authorization the server runs (:mod:`openkms.service.kms.authorize`) and
prints, for the key policy, each identity policy and each grant, which statements
applied and which checks failed.
"""

from __future__ import annotations

import re
import time

from openkms.authz import Policy, explain, parse_policy
from openkms.domain.grants import grant_allows
from openkms.domain.principals import Principal
from openkms.errors import AccessDeniedException, AWSError
from openkms.service import access, conditions
from openkms.service.context import RequestContext
from openkms.service.identity.authorize import identity_policies
from openkms.service.kms.authorize import authorize, is_account_root
from openkms.service.kms.grant_check import check_grants, identities
from openkms.service.kms.resolve import resolve_key
from openkms.service.policy_principals import effective_policy
from openkms.storage.grants.repository import grants_for_grantee
from openkms.storage.identity import repository as identity_records
from openkms.storage.repository import Store

_ROOT = re.compile(r"arn:aws:iam::(\d{12}):root")
_USER = re.compile(r"arn:aws:iam::(\d{12}):user/(?:.*/)?([^/]+)")
_SESSION = re.compile(r"arn:aws:sts::(\d{12}):assumed-role/([^/]+)/(.+)")


def principal_from_arn(store: Store, arn: str) -> Principal:
    """The principal an ARN names, with what the store knows of it (user tags, role path)."""
    if (m := _ROOT.fullmatch(arn)) is not None:
        return Principal.root(m.group(1), "explain")
    with store.transaction() as tx:
        if (m := _USER.fullmatch(arn)) is not None:
            user = identity_records.get_user(tx, m.group(1), m.group(2))
            if user is None:
                raise ValueError(f"no such user: {arn}")
            return Principal.user(
                user.account,
                user.arn,
                "explain",
                user_id=user.user_id,
                user_name=user.name,
                tags=user.tags,
            )
        if (m := _SESSION.fullmatch(arn)) is not None:
            role = identity_records.get_role(tx, m.group(1), m.group(2))
            if role is None:
                raise ValueError(f"no such role: {m.group(2)}")
            return Principal.assumed_role(
                role.account,
                "explain",
                role_arn=role.arn,
                role_id=role.role_id,
                session_name=m.group(3),
                expiration=time.time() + 3600,
            )
    raise ValueError(f"not a root, IAM user or assumed-role ARN: {arn}")


def explain_access(
    store: Store,
    principal: Principal,
    action: str,
    key_identifier: str,
    region: str,
    encryption_context: dict[str, str],
) -> tuple[bool, str]:
    """Return (allowed, a readable account of the decision)."""
    ctx = RequestContext("explain", principal, region, time.time())
    params: dict[str, object] = {}
    if encryption_context:
        params["EncryptionContext"] = encryption_context
    lines: list[str] = []
    with store.transaction() as tx:
        key = resolve_key(tx, ctx, key_identifier)
        policies = [] if is_account_root(principal) else identity_policies(tx, principal)
        base = conditions.base_context(ctx, params)
        policy_text = effective_policy(tx, key)  # gone principals read as their unique ids
        context = conditions.key_context(base, key, tx, key_identifier, [key.policy, *policies])
        request = access.request_for(principal, action, key.arn, context)
        lines += [
            "== Key policy of " + key.arn,
            explain(key_policy_of(policy_text), request).render(),
        ]
        if is_account_root(principal):
            lines += [
                "== Identity policies",
                "(account root user: allowed everything in its "
                "own account by IAM; only key policies and explicit denies limit it)",
            ]
        for index, text in enumerate(policies):
            lines += [
                f"== Identity policy {index + 1}",
                explain(parse_policy(text, "identity"), request).render(),
            ]
        if principal.session_policy:
            lines += [
                "== Session policy",
                explain(parse_policy(principal.session_policy, "identity"), request).render(),
            ]
        names = identities(principal)
        grants = grants_for_grantee(tx, key.key_id, names)
        operation = action.removeprefix("kms:")
        match = grant_allows(grants, names, operation, encryption_context or None)
        lines.append(f"== Grants for {', '.join(names)}: {len(grants)}")
        for grant in grants:
            verdict = "ALLOWS" if match is not None and grant.grant_id == match.grant_id else "no"
            ops = ",".join(op.value for op in grant.operations)
            lines.append(f"  {grant.grant_id[:16]}... operations [{ops}]: {verdict}")
        try:
            authorize(
                ctx,
                action,
                key,
                context,
                lambda p: policies,
                lambda k, p, op, c: check_grants(tx, k, p, op, params),
                policy_text,
            )
        except AccessDeniedException as denied:
            lines.append("== Result: DENIED — " + denied.message)
            return False, "\n".join(lines)
        except AWSError as other:
            lines.append(f"== Result: {other.type_name} — {other.message}")
            return False, "\n".join(lines)
    lines.append("== Result: ALLOWED")
    return True, "\n".join(lines)


def key_policy_of(text: str) -> Policy:
    return parse_policy(text, "resource")
