"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.

Documents are validated and stored here; evaluating them against requests is the
authorization layer's work.
"""

from __future__ import annotations

from typing import Any

from openkms.authz import parse_policy
from openkms.domain.keys import require_manageable, with_policy
from openkms.errors import MalformedPolicyDocumentException, NotFoundException
from openkms.service.authorize import allows_policy_updates
from openkms.service.call import Call
from openkms.service.registry import operation

POLICY_NAME = "default"


def _check_name(call: Call) -> None:
    name = call.params.get("PolicyName", POLICY_NAME)
    if name != POLICY_NAME:
        raise NotFoundException("No such policy exists")


@operation("GetKeyPolicy")
def get_key_policy(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html"""
    _check_name(call)
    return {"Policy": call.key.policy, "PolicyName": POLICY_NAME}


@operation("PutKeyPolicy", writes=True)
def put_key_policy(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html"""
    _check_name(call)
    require_manageable(call.key)
    text = call.params["Policy"]
    check_new_policy(call, text, call.key.arn)
    call.tx.update_key(with_policy(call.key, text))
    return {}


LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."


def check_new_policy(call: Call, text: str, key_arn: str) -> None:
    """Validate a key policy and, unless BypassPolicyLockoutSafetyCheck, make sure the caller
    could still change it afterwards ("Default key policy: policy lockout safety check")."""
    parse_policy(text, "resource")
    if call.params.get("BypassPolicyLockoutSafetyCheck") is True:
        return
    if not allows_policy_updates(text, call.ctx, key_arn):
        raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)


@operation("ListKeyPolicies")
def list_key_policies(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyPolicies.html"""
    return {"PolicyNames": [POLICY_NAME], "Truncated": False}
