"""Long-term access keys: CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey.

Without ``UserName`` these act on the caller: an IAM user's own keys, or the root
user's keys when the account root calls ("If you do not specify a user name, IAM
determines the user name implicitly based on the Amazon Web Services access key ID
signing the request"). The secret is returned once, by CreateAccessKey, and stored
only wrapped under the root keyring.
"""

from __future__ import annotations

from typing import Any

from openkms.crypto import contexts
from openkms.domain.identities import (
    MAX_ACCESS_KEYS_PER_USER,
    AccessKeyInfo,
    KeyStatus,
    new_access_key_id,
    new_secret_access_key,
)
from openkms.errors import InvalidInput, LimitExceeded, NoSuchEntity
from openkms.service.identity import targets
from openkms.service.identity.common import page, require_user
from openkms.service.identity.registry import IdentityCall, IdentityOperation, operation
from openkms.storage.identity import repository as identity_records

IAM = "iam"


def _owner(call: IdentityCall) -> tuple[str, str | None]:
    """(ARN owning the keys, user name or None for the root user)."""
    if call.target.name is None:
        return call.target.arn, None
    user = require_user(call)
    return user.arn, user.name


def _owned_key(call: IdentityCall) -> AccessKeyInfo:
    owner_arn, _ = _owner(call)
    access_key_id = call.params["AccessKeyId"]
    for key in identity_records.access_keys_of(call.tx, call.account, owner_arn):
        if key.access_key_id == access_key_id:
            return key
    raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")


@operation(IAM, "CreateAccessKey", resolve=targets.user(implicit=True), writes=True)
def create_access_key(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html"""
    owner_arn, user_name = _owner(call)
    if (
        len(identity_records.access_keys_of(call.tx, call.account, owner_arn))
        >= MAX_ACCESS_KEYS_PER_USER
    ):
        raise LimitExceeded(
            f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
        )
    access_key_id, secret = new_access_key_id(), new_secret_access_key()
    key = AccessKeyInfo(access_key_id, call.account, owner_arn, KeyStatus.ACTIVE, call.ctx.now)
    wrapped = call.keyring.wrap(secret.encode(), contexts.access_key_secret(access_key_id))
    identity_records.insert_access_key(call.tx, key, wrapped)
    return {
        "AccessKey": {
            "UserName": user_name,
            "AccessKeyId": access_key_id,
            "Status": key.status.value,
            "SecretAccessKey": secret,
            "CreateDate": key.created_at,
        }
    }


@operation(IAM, "ListAccessKeys", resolve=targets.user(implicit=True))
def list_access_keys(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListAccessKeys.html"""
    owner_arn, user_name = _owner(call)
    keys = identity_records.access_keys_of(call.tx, call.account, owner_arn)
    chosen, paging = page(keys, call.params, lambda k: k.access_key_id)
    metadata = [
        {
            "UserName": user_name,
            "AccessKeyId": k.access_key_id,
            "Status": k.status.value,
            "CreateDate": k.created_at,
        }
        for k in chosen
    ]
    return {"AccessKeyMetadata": metadata, **paging}


@operation(IAM, "UpdateAccessKey", resolve=targets.user(implicit=True), writes=True)
def update_access_key(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAccessKey.html"""
    status = call.params["Status"]
    if status not in (KeyStatus.ACTIVE.value, KeyStatus.INACTIVE.value):
        raise InvalidInput(f"Status {status} is not valid; use Active or Inactive.")
    key = _owned_key(call)
    identity_records.set_access_key_status(call.tx, key.access_key_id, KeyStatus(status))
    return {}


@operation(IAM, "DeleteAccessKey", resolve=targets.user(implicit=True), writes=True)
def delete_access_key(call: IdentityCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteAccessKey.html"""
    key = _owned_key(call)
    identity_records.delete_access_key(call.tx, key.access_key_id)
    return {}


OPERATIONS: tuple[IdentityOperation, ...] = (
    create_access_key,
    list_access_keys,
    update_access_key,
    delete_access_key,
)
