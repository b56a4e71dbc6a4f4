"""AWS managed keys: the predefined aliases, the key a service gets, its policy (issue 14)."""

from __future__ import annotations

import json

from openkms.authz.document import parse_policy
from openkms.domain import managed_keys
from openkms.domain.keys import DAY_SECONDS, KeyManager, KeySpec, KeyState

A = "111122223333"


def test_predefined_aliases_are_reserved_names_in_order() -> None:
    names = managed_keys.PREDEFINED_ALIASES
    assert list(names) == sorted(names) and len(names) == 14
    assert all(name.startswith("alias/aws/") for name in names)
    s3 = managed_keys.service_of_alias("alias/aws/s3")
    assert s3 is not None and s3.via_service("eu-west-1") == "s3.eu-west-1.amazonaws.com"
    ebs = managed_keys.service_of_alias("alias/aws/ebs")
    assert ebs is not None and ebs.via_service("us-east-1") == "ec2.us-east-1.amazonaws.com"
    assert managed_keys.service_of_alias("alias/aws/nope") is None
    assert managed_keys.service_of_alias("alias/s3") is None


def test_managed_key_is_aws_managed_and_rotates_yearly() -> None:
    service = managed_keys.service_of_alias("alias/aws/s3")
    assert service is not None
    key = managed_keys.managed_key(service, "k", A, "us-east-1", 1000.0)
    assert key.manager is KeyManager.AWS and key.spec is KeySpec.SYMMETRIC_DEFAULT
    assert key.state is KeyState.ENABLED
    assert key.description == "Default key that protects my S3 objects when no other key is defined"
    assert key.rotation_enabled and key.rotation_period_days == 365
    assert key.next_rotation_date == 1000.0 + 365 * DAY_SECONDS


def test_managed_policy_is_a_valid_key_policy() -> None:
    for service in managed_keys.MANAGED_SERVICES:
        text = managed_keys.managed_policy(service, A, "us-east-1")
        parse_policy(text, "resource")  # the policy language accepts it
        use, read = json.loads(text)["Statement"]
        assert use["Principal"] == {"AWS": "*"}
        assert use["Condition"]["StringEquals"] == {
            "kms:CallerAccount": A,
            "kms:ViaService": service.via_service("us-east-1"),
        }
        assert ("kms:CreateGrant" in use["Action"]) is service.grants
        assert read["Principal"] == {"AWS": f"arn:aws:iam::{A}:root"}
        assert read["Action"][:3] == ["kms:Describe*", "kms:Get*", "kms:List*"]
