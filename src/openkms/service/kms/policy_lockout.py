"""A new key policy, as CreateKey and PutKeyPolicy accept it: valid policy grammar, the
policy lockout safety check (unless BypassPolicyLockoutSafetyCheck), and the IAM users
and roles it names bound to their unique ids (:mod:`openkms.service.policy_principals`).

https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#prevent-unmanageable-key
"""

from __future__ import annotations

from openkms.authz import parse_policy
from openkms.domain import multi_region
from openkms.errors import MalformedPolicyDocumentException
from openkms.service.kms.authorize import allows_policy_updates
from openkms.service.kms.call import OperationCall
from openkms.service.policy_principals import bind

LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."


def check_new_policy(
    call: OperationCall[object], text: str, key_arn: str, *, bypass: bool | None
) -> None:
    """Validate a key policy and, unless ``bypass`` (the request's
    BypassPolicyLockoutSafetyCheck), make sure the caller could still change it afterwards
    ("Default key policy: policy lockout safety check"); then bind the users and roles it
    names to their unique ids."""
    parse_policy(text, "resource")
    if bypass is not True and not allows_policy_updates(text, call.ctx, key_arn):
        raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)
    # Bound to the key's stored id (a multi-Region key's names its Region too).
    region, key_id = key_arn.split(":")[3], key_arn.rsplit("/", 1)[-1]
    bind(call.tx, multi_region.record_id(key_id, region), text)
