"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.

Documents are validated and stored here; evaluating them against requests is the
authorization layer's work. The IAM users and roles a policy names are bound to their
unique ids when it is saved, and GetKeyPolicy shows a gone principal's unique id in
place of its ARN (:mod:`openkms.service.policy_principals`).
"""

from __future__ import annotations

from openkms.domain.keys import require_manageable, with_policy
from openkms.errors import NotFoundException
from openkms.service.kms.call import OperationCall
from openkms.service.kms.policy_lockout import check_new_policy
from openkms.service.kms.registry import operation
from openkms.service.policy_principals import effective_policy
from openkms.storage.keys import repository as key_records
from openkms.wire.shapes import (
    GetKeyPolicyRequest,
    GetKeyPolicyResponse,
    ListKeyPoliciesRequest,
    ListKeyPoliciesResponse,
    PutKeyPolicyRequest,
    PutKeyPolicyResponse,
)

POLICY_NAME = "default"


def _check_name(name: str | None) -> None:
    if name is not None and name != POLICY_NAME:
        raise NotFoundException("No such policy exists")


@operation("GetKeyPolicy")
def get_key_policy(call: OperationCall[GetKeyPolicyRequest]) -> GetKeyPolicyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html"""
    _check_name(call.params.get("PolicyName"))
    return {"Policy": effective_policy(call.tx, call.key), "PolicyName": POLICY_NAME}


@operation("PutKeyPolicy", writes=True)
def put_key_policy(call: OperationCall[PutKeyPolicyRequest]) -> PutKeyPolicyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html"""
    p = call.params
    _check_name(p.get("PolicyName"))
    require_manageable(call.key)
    text = p["Policy"]
    check_new_policy(call, text, call.key.arn, bypass=p.get("BypassPolicyLockoutSafetyCheck"))
    key_records.update_key(call.tx, with_policy(call.key, text))
    return {}


@operation("ListKeyPolicies")
def list_key_policies(call: OperationCall[ListKeyPoliciesRequest]) -> ListKeyPoliciesResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyPolicies.html"""
    return {"PolicyNames": [POLICY_NAME], "Truncated": False}


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    get_key_policy,
    put_key_policy,
    list_key_policies,
)
