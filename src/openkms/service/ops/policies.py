"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.

Documents are validated and stored here; evaluating them against requests is the
authorization layer's work.
"""

from __future__ import annotations

from typing import Any

from openkms.domain import policy
from openkms.domain.keys import require_manageable, with_policy
from openkms.errors import NotFoundException
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
    policy.check_policy_document(text)
    call.tx.update_key(with_policy(call.key, text))
    return {}


@operation("ListKeyPolicies")
def list_key_policies(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyPolicies.html"""
    return {"PolicyNames": [POLICY_NAME], "Truncated": False}
