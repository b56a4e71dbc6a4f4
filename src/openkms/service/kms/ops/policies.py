"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.

Documents are validated and stored here; evaluating them against requests is the
authorization layer's work. The IAM users and roles a policy names are bound to their
unique ids when it is saved, and GetKeyPolicy shows a gone principal's unique id in
place of its ARN (:mod:`openkms.service.policy_principals`).
"""

from __future__ import annotations

from typing import Any

from openkms.authz import parse_policy
from openkms.domain.keys import require_manageable, with_policy
from openkms.errors import MalformedPolicyDocumentException, NotFoundException
from openkms.service.kms.authorize import allows_policy_updates
from openkms.service.kms.call import OperationCall
from openkms.service.kms.registry import operation
from openkms.service.policy_principals import bind, effective_policy

POLICY_NAME = "default"


def _check_name(call: OperationCall) -> None:
    name = call.params.get("PolicyName", POLICY_NAME)
    if name != POLICY_NAME:
        raise NotFoundException("No such policy exists")


@operation("GetKeyPolicy")
def get_key_policy(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html"""
    _check_name(call)
    return {"Policy": effective_policy(call.tx, call.key), "PolicyName": POLICY_NAME}


@operation("PutKeyPolicy", writes=True)
def put_key_policy(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html"""
    _check_name(call)
    require_manageable(call.key)
    text = call.params["Policy"]
    check_new_policy(call, text, call.key.arn)
    call.tx.update_key(with_policy(call.key, text))
    return {}


LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."


def check_new_policy(call: OperationCall, text: str, key_arn: str) -> None:
    """Validate a key policy and, unless BypassPolicyLockoutSafetyCheck, make sure the caller
    could still change it afterwards ("Default key policy: policy lockout safety check");
    then bind the users and roles it names to their unique ids."""
    parse_policy(text, "resource")
    bypass = call.params.get("BypassPolicyLockoutSafetyCheck") is True
    if not bypass and not allows_policy_updates(text, call.ctx, key_arn):
        raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)
    bind(call.tx, key_arn.rsplit("/", 1)[-1], text)


@operation("ListKeyPolicies")
def list_key_policies(call: OperationCall) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyPolicies.html"""
    return {"PolicyNames": [POLICY_NAME], "Truncated": False}


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    get_key_policy,
    put_key_policy,
    list_key_policies,
)
