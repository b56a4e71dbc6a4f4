"""One builder of the global aws:* condition keys: KMS and IAM/STS/CloudTrail see the same
keys for the same request (issue 10: aws:PrincipalArn differed between APIs)."""

from __future__ import annotations

import time

import pytest

from openkms.domain.principals import Principal
from openkms.service.conditions import base_context, global_context
from openkms.service.context import RequestContext
from openkms.service.identity.authorize import request_context

A = "111122223333"
SESSION = Principal.assumed_role(
    A,
    "ASIAEXAMPLE",
    role_arn=f"arn:aws:iam::{A}:role/app/deployer",
    role_id="AROAEXAMPLEROLE00001",
    session_name="s1",
    expiration=time.time() + 60,
    tags=(("team", "blue"),),
)
USER = Principal.user(
    A,
    f"arn:aws:iam::{A}:user/div/alice",
    "AKIAEXAMPLE",
    user_id="AIDAEXAMPLEUSER00001",
    user_name="alice",
)
ROOT = Principal.root(A, "AKIAROOT")


@pytest.mark.parametrize("principal", [SESSION, USER, ROOT], ids=["session", "user", "root"])
@pytest.mark.parametrize("secure", [False, True])
def test_every_api_sees_the_same_global_keys(principal: Principal, secure: bool) -> None:
    ctx = RequestContext(
        "r", principal, "eu-west-1", time.time(), "127.0.0.1", "Boto3/1.0", secure_transport=secure
    )
    kms = {
        k: v
        for k, v in base_context(ctx, {"EncryptionContext": {"a": "b"}}).items()
        if k.startswith("aws:")
    }
    iam = {k: v for k, v in request_context(ctx).items() if k.startswith("aws:")}
    assert kms == iam == global_context(ctx)
    assert kms["aws:SecureTransport"] is secure
    assert kms["aws:PrincipalArn"] == (
        f"arn:aws:iam::{A}:role/app/deployer" if principal is SESSION else principal.arn
    )


def test_a_session_answers_to_its_role_with_the_path() -> None:
    assert SESSION.identities() == (
        f"arn:aws:sts::{A}:assumed-role/deployer/s1",
        f"arn:aws:iam::{A}:role/app/deployer",
    )
    assert SESSION.unique_id == "AROAEXAMPLEROLE00001"
    assert USER.identities() == (USER.arn,) and USER.unique_id == "AIDAEXAMPLEUSER00001"
    assert ROOT.is_root and ROOT.unique_id is None
    assert not Principal(A, USER.arn, "AK").is_root  # a root kind with a user ARN: no


def test_via_service_comes_from_the_operator_tag_only() -> None:
    """kms:ViaService (issue 14): set for principals tagged openkms:via-service, in the
    request's Region; never for anyone else, whatever the request says."""
    tagged = Principal.user(
        A,
        f"arn:aws:iam::{A}:user/s3-sim",
        "AKIATAGGED",
        user_id="AIDAEXAMPLEUSER00002",
        user_name="s3-sim",
        tags=(("openkms:via-service", "s3"),),
    )
    ctx = RequestContext("r", tagged, "eu-west-1", time.time())
    values = base_context(ctx, {"ViaService": "ec2"})
    assert values["kms:ViaService"] == "s3.eu-west-1.amazonaws.com"
    assert values["kms:GrantIsForAWSResource"] is True
    assert values["kms:CallerAccount"] == A
    for principal in (SESSION, USER, ROOT):
        plain = RequestContext("r", principal, "eu-west-1", time.time())
        direct = base_context(plain, {"ViaService": "s3"})
        assert "kms:ViaService" not in direct
        assert direct["kms:GrantIsForAWSResource"] is False
