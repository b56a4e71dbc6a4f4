"""Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

The rules a grant must follow live in :mod:`openkms.domain.grants`; using grants to
authorize other operations is the authorizer's work. Service principals
(``GranteeServicePrincipal``, ``RetiringServicePrincipal``) and the ``SourceArn``
constraint are refused explicitly: OpenKMS has no AWS services to act as them.
"""

from __future__ import annotations

import os
import re

from openkms.domain import grant_tokens as tokens
from openkms.domain import grants as domain_grants
from openkms.domain.grants import ConstraintKind, Grant
from openkms.domain.keys import Key, KeyState, require_usable
from openkms.domain.principals import root_arn
from openkms.errors import (
    AccessDeniedException,
    InvalidGrantIdException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service.context import RequestContext
from openkms.service.kms import resource_quotas
from openkms.service.kms.call import OperationCall
from openkms.service.kms.paging import decode_marker, page
from openkms.service.kms.registry import operation
from openkms.service.kms.resolve import resolve_key
from openkms.storage.grants import repository as grant_records
from openkms.wire.shapes import (
    CreateGrantRequest,
    CreateGrantResponse,
    GrantConstraints,
    GrantListEntry,
    ListGrantsRequest,
    ListGrantsResponse,
    ListRetirableGrantsRequest,
    ListRetirableGrantsResponse,
    RetireGrantRequest,
    RetireGrantResponse,
    RevokeGrantRequest,
    RevokeGrantResponse,
)

DEFAULT_LIMIT, MAX_LIMIT = 50, 100
_PRINCIPAL_ACCOUNT = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):.+|(\d{12})")


def _refuse(name: str, value: str | None) -> None:
    """Refuse a service principal member (``name``) the request sets."""
    if value is not None:
        raise UnsupportedOperationException(
            f"{name} (AWS service principals) is not supported by OpenKMS."
        )


def _limit(limit: int | None) -> int:
    """AWS documents 1..100 (default 50) though its model allows 1000; a larger Limit
    returns at most 100 items ("KMS does not return more than the specified number of
    items, but it might return fewer")."""
    return min(DEFAULT_LIMIT if limit is None else limit, MAX_LIMIT)


def _grant_id(value: str) -> str:
    if not tokens.is_grant_id(value):
        raise InvalidGrantIdException(
            "The request was rejected because the specified GrantId is not valid."
        )
    return value


def _not_found(grant_id: str) -> NotFoundException:
    return NotFoundException(f"Grant ID {grant_id} not found")


def _identities(ctx: RequestContext) -> tuple[str, ...]:
    """The ARNs a grant may name the caller by: its own, and its role's (with the role's
    path) for a session; the same as when the grant is used (:mod:`..grant_check`)."""
    return ctx.principal.identities()


def grant_entry(grant: Grant) -> GrantListEntry:
    """GrantListEntry (https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantListEntry.html)."""
    entry: GrantListEntry = {
        "KeyId": grant.key_arn,
        "GrantId": grant.grant_id,
        "Name": grant.name or "",
        "CreationDate": grant.creation_date,
        "GranteePrincipal": grant.grantee_principal,
        "IssuingAccount": root_arn(grant.issuing_account),
        "Operations": [op.value for op in grant.operations],
    }
    if grant.retiring_principal is not None:
        entry["RetiringPrincipal"] = grant.retiring_principal
    if grant.constraints is not None:
        entry["Constraints"] = _constraints_member(grant.constraints)
    return entry


def _constraints_member(constraints: domain_grants.GrantConstraints) -> GrantConstraints:
    """A grant's constraint as the API shows it: the one member of its kind."""
    if constraints.kind is ConstraintKind.EQUALS:
        return {"EncryptionContextEquals": constraints.context}
    return {"EncryptionContextSubset": constraints.context}


def _require_grantable(key: Key) -> None:
    """CreateGrant fails on Disabled, PendingImport and PendingDeletion keys and works on
    Unavailable ones ("Key states of AWS KMS keys")."""
    if key.state is not KeyState.UNAVAILABLE:
        require_usable(key)


@operation("CreateGrant", writes=True, dry_run=True)
def create_grant(call: OperationCall[CreateGrantRequest]) -> CreateGrantResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html

    With a ``Name``, a request whose parameters equal those of an existing grant of that
    name on the key is a retry: it returns the existing grant id with a new token ("the
    returned grant token is unique with every CreateGrant request, even when a duplicate
    GrantId is returned"). A different request under the same name makes a new grant.
    """
    p = call.params
    _refuse("GranteeServicePrincipal", p.get("GranteeServicePrincipal"))
    _refuse("RetiringServicePrincipal", p.get("RetiringServicePrincipal"))
    raw_constraints = p.get("Constraints") or {}
    if raw_constraints.get("SourceArn") is not None:
        raise UnsupportedOperationException(
            "The SourceArn grant constraint (AWS service principals) is not supported by OpenKMS."
        )
    grantee = p.get("GranteePrincipal")
    if grantee is None:
        raise ValidationException("You must specify a GranteePrincipal.")
    tokens.check_tokens(p.get("GrantTokens") or [])
    key = call.key
    _require_grantable(key)
    operations = domain_grants.parse_operations(p["Operations"])
    constraints = domain_grants.parse_constraints(
        {
            "EncryptionContextEquals": raw_constraints.get("EncryptionContextEquals"),
            "EncryptionContextSubset": raw_constraints.get("EncryptionContextSubset"),
        }
    )
    domain_grants.check_new_grant(key, operations, constraints)
    retiring = p.get("RetiringPrincipal")
    name = p.get("Name")
    tx = call.tx
    if name is not None:
        for existing in grant_records.grants_by_name(tx, key.key_id, name):
            if existing.same_request(grantee, retiring, operations, constraints):
                token = tokens.mint_token(existing.grant_id, os.urandom(16))
                return {"GrantToken": token, "GrantId": existing.grant_id}
    count = grant_records.count_grants_for_key(tx, key.key_id)
    resource_quotas.check_new_grant(tx, key, grantee, count)
    grant = Grant(
        grant_id=tokens.new_grant_id(os.urandom(32)),
        key_id=key.key_id,
        account=key.account,
        region=key.region,
        name=name,
        grantee_principal=grantee,
        retiring_principal=retiring,
        operations=operations,
        constraints=constraints,
        issuing_account=call.ctx.account,
        creation_date=call.ctx.now,
    )
    grant_records.insert_grant(tx, grant)
    return {
        "GrantToken": tokens.mint_token(grant.grant_id, os.urandom(16)),
        "GrantId": grant.grant_id,
    }


@operation("ListGrants")
def list_grants(call: OperationCall[ListGrantsRequest]) -> ListGrantsResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html

    Grants come in grant id order; the marker is the last grant id of the previous page.
    """
    p = call.params
    _refuse("GranteeServicePrincipal", p.get("GranteeServicePrincipal"))
    limit = _limit(p.get("Limit"))
    after = decode_marker(p.get("Marker"), tokens.is_grant_id)
    key = call.key
    grantee = p.get("GranteePrincipal")
    grant_id = p.get("GrantId")
    if grant_id is None:
        found = grant_records.list_grants(call.tx, key.key_id, grantee, after, limit + 1)
    else:
        one = grant_records.get_grant(call.tx, _grant_id(grant_id))
        keep = (
            one is not None
            and one.key_id == key.key_id
            and (grantee is None or one.grantee_principal == grantee)
            and (after is None or one.grant_id > after)
        )
        found = [one] if keep and one is not None else []
    grants, paging = page(found, limit, lambda grant: grant.grant_id)
    return {"Grants": [grant_entry(grant) for grant in grants], **paging}


@operation("ListRetirableGrants", keys=())
def list_retirable_grants(
    call: OperationCall[ListRetirableGrantsRequest],
) -> ListRetirableGrantsResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListRetirableGrants.html

    Lists the region's grants, on keys of any account, whose retiring principal is the one
    named. It is authorized by IAM in the caller's account, and "you must specify a
    principal in your AWS account": another account's principal is denied.
    """
    p = call.params
    _refuse("RetiringServicePrincipal", p.get("RetiringServicePrincipal"))
    principal = p.get("RetiringPrincipal")
    if principal is None:
        raise ValidationException("You must specify a RetiringPrincipal.")
    ctx = call.ctx
    match = _PRINCIPAL_ACCOUNT.fullmatch(principal)
    if match is None or (match.group(1) or match.group(2)) != ctx.account:
        raise AccessDeniedException(
            f"User: {ctx.principal.arn} is not authorized to perform: "
            f"kms:ListRetirableGrants on resource: {principal}"
        )
    limit = _limit(p.get("Limit"))
    after = decode_marker(p.get("Marker"), tokens.is_grant_id)
    found = grant_records.list_retirable_grants(call.tx, ctx.region, principal, after, limit + 1)
    grants, paging = page(found, limit, lambda grant: grant.grant_id)
    return {"Grants": [grant_entry(grant) for grant in grants], **paging}


@operation("RetireGrant", keys=(), writes=True, dry_run=True, account_check=False)
def retire_grant(call: OperationCall[RetireGrantRequest]) -> RetireGrantResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html

    The grant is named by a grant token, or by a key id or key ARN and a grant id.

    "Permission to retire a grant is determined primarily by the grant"
    ("Retiring and revoking grants",
    https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html): its retiring
    principal, its grantee principal if the grant includes RetireGrant, and the account in
    which the grant was created may retire it (:func:`openkms.domain.grants.may_retire`).
    "The kms:RetireGrant permission is not effective in a key policy", so the registry
    declares no key for the dispatcher to authorize against the key policy; IAM delegation
    of kms:RetireGrant within those accounts arrives with IAM identities.
    """
    p = call.params
    ctx = call.ctx
    token, key_id, named_grant = p.get("GrantToken"), p.get("KeyId"), p.get("GrantId")
    key: Key | None = None
    if token is not None:
        grant_id = tokens.parse_token(token)
    elif key_id is not None and named_grant is not None:
        grant_id = _grant_id(named_grant)
        key = resolve_key(call.tx, ctx, key_id, for_update=True, allow_alias=False)
    else:
        raise ValidationException("Grant token OR (grant ID, key ID) must be specified")
    grant = grant_records.get_grant(call.tx, grant_id)
    if (
        grant is None
        or grant.region != ctx.region
        or (key is not None and grant.key_id != key.key_id)
    ):
        raise _not_found(grant_id)
    if not domain_grants.may_retire(grant, _identities(ctx)):
        raise AccessDeniedException(
            f"User: {ctx.principal.arn} is not authorized to perform: kms:RetireGrant "
            f"on resource: {grant.key_arn}"
        )
    grant_records.delete_grant(call.tx, grant.grant_id)
    return {}


@operation("RevokeGrant", writes=True, dry_run=True)
def revoke_grant(call: OperationCall[RevokeGrantRequest]) -> RevokeGrantResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_RevokeGrant.html

    Authorized like any key operation (kms:RevokeGrant in the key policy); works in every
    key state.
    """
    grant_id = _grant_id(call.params["GrantId"])
    grant = grant_records.get_grant(call.tx, grant_id)
    if grant is None or grant.key_id != call.key.key_id:
        raise _not_found(grant_id)
    grant_records.delete_grant(call.tx, grant_id)
    return {}


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    create_grant,
    list_grants,
    list_retirable_grants,
    retire_grant,
    revoke_grant,
)
