"""Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from openkms.domain import multi_region
from openkms.domain.aliases import Alias, check_customer_alias_name
from openkms.domain.identifiers import RefKind, alias_arn, parse_key_ref
from openkms.domain.keys import Key, KeyState
from openkms.domain.managed_keys import PREDEFINED_ALIASES
from openkms.errors import (
    AlreadyExistsException,
    KMSInvalidStateException,
    NotFoundException,
    ValidationException,
)
from openkms.service.context import RequestContext
from openkms.service.kms import resource_quotas
from openkms.service.kms.call import OperationCall
from openkms.service.kms.paging import decode_marker, page
from openkms.service.kms.registry import KeyArg, operation, param
from openkms.service.kms.resolve import resolve_key
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import DuplicateError
from openkms.wire.shapes import (
    AliasListEntry,
    CreateAliasRequest,
    CreateAliasResponse,
    DeleteAliasRequest,
    DeleteAliasResponse,
    ListAliasesRequest,
    ListAliasesResponse,
    UpdateAliasRequest,
    UpdateAliasResponse,
)


def _check_target(key: Key, target: str) -> None:
    if parse_key_ref(target).kind is RefKind.ALIAS:
        raise ValidationException("Aliases must refer to keys. Not aliases")
    if key.state is KeyState.PENDING_DELETION:
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.")


def _existing(call: OperationCall[object], name: str) -> Alias:
    ctx = call.ctx
    alias = key_records.get_alias(call.tx, ctx.account, ctx.region, name)
    if alias is None:
        raise NotFoundException(f"Alias {alias_arn(ctx.region, ctx.account, name)} is not found.")
    return alias


@operation(
    "CreateAlias",
    keys=(KeyArg("kms:CreateAlias", param("TargetKeyId"), allow_alias=True),),
    writes=True,
)
def create_alias(call: OperationCall[CreateAliasRequest]) -> CreateAliasResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html"""
    name = call.params["AliasName"]
    check_customer_alias_name(name)
    _check_target(call.key, call.params["TargetKeyId"])
    resource_quotas.check_new_alias(call.tx, call.key)
    ctx = call.ctx
    alias = Alias(ctx.account, ctx.region, name, call.key.key_id, ctx.now, ctx.now)
    try:
        key_records.insert_alias(call.tx, alias)
    except DuplicateError:
        raise AlreadyExistsException(f"An alias with the name {alias.arn} already exists") from None
    return {}


@operation(
    "UpdateAlias",
    keys=(KeyArg("kms:UpdateAlias", param("TargetKeyId"), allow_alias=True),),
    writes=True,
)
def update_alias(call: OperationCall[UpdateAliasRequest]) -> UpdateAliasResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateAlias.html

    The new key must have the same type and usage as the current one."""
    name = call.params["AliasName"]
    check_customer_alias_name(name)
    new_key = call.key
    _check_target(new_key, call.params["TargetKeyId"])
    alias = _existing(call, name)
    current = resolve_key(call.tx, call.ctx, multi_region.public_id(alias.target_key_id))
    if (current.spec, current.usage) != (new_key.spec, new_key.usage):
        raise ValidationException(
            f"{new_key.arn} key usage or key spec does not match the alias's current key "
            f"{current.arn}: an alias can only be moved between keys of the same type and usage."
        )
    if new_key.key_id != alias.target_key_id:
        resource_quotas.check_new_alias(call.tx, new_key)
    key_records.update_alias(
        call.tx,
        Alias(alias.account, alias.region, name, new_key.key_id, alias.created_at, call.ctx.now),
    )
    return {}


@operation(
    "DeleteAlias",
    keys=(KeyArg("kms:DeleteAlias", param("AliasName"), allow_alias=True),),
    writes=True,
)
def delete_alias(call: OperationCall[DeleteAliasRequest]) -> DeleteAliasResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteAlias.html"""
    name = call.params["AliasName"]
    check_customer_alias_name(name)
    key_records.delete_alias(call.tx, _existing(call, name))
    return {}


def _is_alias_name(value: str) -> bool:
    return value.startswith("alias/")


@operation("ListAliases", keys=(KeyArg("kms:ListAliases", param("KeyId"), required=False),))
def list_aliases(call: OperationCall[ListAliasesRequest]) -> ListAliasesResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListAliases.html

    Without KeyId the predefined aliases (``alias/aws/<service>``) are listed too; those
    whose AWS managed key does not exist yet have no TargetKeyId and no dates, as AWS
    shows them. Sorted by name; the marker is the last name of a page."""
    limit = call.params.get("Limit", 50)
    after = decode_marker(call.params.get("Marker"), _is_alias_name)
    key = call.keys[0]
    ctx = call.ctx
    stored = key_records.list_aliases(
        call.tx, ctx.account, ctx.region, None if key is None else key.key_id, after, limit + 1
    )
    names: list[tuple[str, Alias | None]] = [(a.name, a) for a in stored]
    if key is None:
        known = {a.name for a in stored}
        # A predefined name beyond a full page of stored aliases belongs to a later page.
        bound = stored[-1].name if len(stored) > limit else None
        names += [
            (name, None)
            for name in PREDEFINED_ALIASES
            if name not in known
            and (after is None or name > after)
            and (bound is None or name < bound)
        ]
        names.sort(key=lambda item: item[0])
    listed, paging = page(names, limit, lambda item: item[0])
    return {"Aliases": [_entry(ctx, name, alias) for name, alias in listed], **paging}


def _entry(ctx: RequestContext, name: str, alias: Alias | None) -> AliasListEntry:
    if alias is None:  # a predefined alias whose AWS managed key does not exist yet
        return {"AliasName": name, "AliasArn": alias_arn(ctx.region, ctx.account, name)}
    return {
        "AliasName": alias.name,
        "AliasArn": alias.arn,
        "TargetKeyId": multi_region.public_id(alias.target_key_id),
        "CreationDate": alias.created_at,
        "LastUpdatedDate": alias.updated_at,
    }


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    create_alias,
    update_alias,
    delete_alias,
    list_aliases,
)
