"""IAM/STS dispatch in-process: authorization rules, condition keys, failing closed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal
from openkms.errors import AccessDenied, UnsupportedOperation, ValidationError
from openkms.service.context import RequestContext
from openkms.service.identity.dispatch import IdentityService
from openkms.storage.engine import make_engine
from openkms.storage.identity import repository as records
from openkms.storage.repository import Store

A, B = "111122223333", "444455556666"


@pytest.fixture()
def service() -> Iterator[IdentityService]:
    store = Store(make_engine("sqlite://"))
    yield IdentityService(store, SoftwareKeyring(new_root_key()))
    store.close()


def ctx(principal: Principal) -> RequestContext:
    return RequestContext("req", principal, "us-east-1", time.time(), "10.0.0.1", "tests")


def root(account: str = A) -> Principal:
    return Principal.root(account, "AKIAROOT")


def iam(service: IdentityService, who: Principal, action: str, **params: Any) -> dict[str, Any]:
    return service.dispatch("iam", ctx(who), action, params)


def sts(service: IdentityService, who: Principal, action: str, **params: Any) -> dict[str, Any]:
    return service.dispatch("sts", ctx(who), action, params)


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str, resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def make_user(
    service: IdentityService,
    name: str,
    *statements: dict[str, Any],
    account: str = A,
    tags: list[dict[str, str]] | None = None,
) -> Principal:
    user = iam(service, root(account), "CreateUser", UserName=name, Tags=tags or [])["User"]
    if statements:
        iam(
            service,
            root(account),
            "PutUserPolicy",
            UserName=name,
            PolicyName="p",
            PolicyDocument=policy(*statements),
        )
    return Principal.user(
        account,
        user["Arn"],
        "AKIAUSER",
        user_id=user["UserId"],
        user_name=name,
        tags=tuple((t["Key"], t["Value"]) for t in tags or []),
    )


def make_role(
    service: IdentityService,
    name: str,
    trust: dict[str, Any],
    *statements: dict[str, Any],
    account: str = A,
    **params: Any,
) -> str:
    doc = json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    arn: str = iam(
        service, root(account), "CreateRole", RoleName=name, AssumeRolePolicyDocument=doc, **params
    )["Role"]["Arn"]
    if statements:
        iam(
            service,
            root(account),
            "PutRolePolicy",
            RoleName=name,
            PolicyName="p",
            PolicyDocument=policy(*statements),
        )
    return arn


def trusting(principal: str, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole", **extra}


def session_principal(
    out: dict[str, Any], role_arn: str, policy_text: str | None = None
) -> Principal:
    role_id, name = out["AssumedRoleUser"]["AssumedRoleId"].split(":")
    return Principal.assumed_role(
        role_arn.split(":")[4],
        out["Credentials"]["AccessKeyId"],
        role_arn=role_arn,
        role_id=role_id,
        session_name=name,
        expiration=out["Credentials"]["Expiration"],
        session_policy=policy_text,
    )


def test_user_permissions_come_from_identity_policies(service) -> None:
    bob = make_user(
        service,
        "bob",
        allow("iam:GetUser"),
        {"Effect": "Deny", "Action": "iam:GetUser", "Resource": f"arn:aws:iam::{A}:user/secret"},
    )
    iam(service, root(), "CreateUser", UserName="secret")
    assert iam(service, bob, "GetUser", UserName="bob")["User"]["UserName"] == "bob"
    with pytest.raises(AccessDenied, match="with an explicit deny in an identity-based policy"):
        iam(service, bob, "GetUser", UserName="secret")
    with pytest.raises(
        AccessDenied, match="because no identity-based policy allows the iam:ListUsers action"
    ):
        iam(service, bob, "ListUsers")


def test_conditions_see_principal_and_resource_tags(service) -> None:
    carol = make_user(
        service,
        "carol",
        allow(
            "iam:GetUser",
            Condition={"StringEquals": {"iam:ResourceTag/team": "${aws:PrincipalTag/team}"}},
        ),
        tags=[{"Key": "team", "Value": "blue"}],
    )
    iam(service, root(), "CreateUser", UserName="blue1", Tags=[{"Key": "team", "Value": "blue"}])
    iam(service, root(), "CreateUser", UserName="red1", Tags=[{"Key": "team", "Value": "red"}])
    assert iam(service, carol, "GetUser", UserName="blue1")["User"]["UserName"] == "blue1"
    with pytest.raises(AccessDenied):
        iam(service, carol, "GetUser", UserName="red1")


def test_stored_policy_that_no_longer_parses_denies(service) -> None:
    dave = make_user(service, "dave", allow("iam:*"))
    with service.store.transaction(write=True) as tx:
        records.put_policy(tx, A, "user", "dave", "broken", '{"not": "a policy"}')
    with pytest.raises(AccessDenied):
        iam(service, dave, "ListUsers")


def test_trust_policy_rules(service) -> None:
    erin = make_user(service, "erin")
    direct = make_role(service, "direct", trusting(erin.arn))
    via_account = make_role(service, "via-account", trusting(A))
    anyone = make_role(service, "anyone", trusting("*"))
    assert sts(service, erin, "AssumeRole", RoleArn=direct, RoleSessionName="s1")
    assert sts(service, erin, "AssumeRole", RoleArn=anyone, RoleSessionName="s1")
    with pytest.raises(AccessDenied):
        sts(service, erin, "AssumeRole", RoleArn=via_account, RoleSessionName="s1")
    frank = make_user(service, "frank", allow("sts:AssumeRole", via_account))
    assert sts(service, frank, "AssumeRole", RoleArn=via_account, RoleSessionName="s1")
    # An explicit deny in an identity policy wins over a trust policy naming the caller.
    gina = make_user(service, "gina", {"Effect": "Deny", "Action": "sts:*", "Resource": "*"})
    gina_role = make_role(service, "gina-role", trusting(gina.arn))
    with pytest.raises(AccessDenied):
        sts(service, gina, "AssumeRole", RoleArn=gina_role, RoleSessionName="s1")
    # A wrong path in the role ARN is not the role.
    with pytest.raises(AccessDenied):
        sts(
            service,
            erin,
            "AssumeRole",
            RoleArn=f"arn:aws:iam::{A}:role/x/direct",
            RoleSessionName="s1",
        )


def test_cross_account_assume_role_needs_both_accounts(service) -> None:
    hank = make_user(service, "hank")
    foreign = make_role(service, "foreign", trusting(hank.arn), account=B)
    with pytest.raises(AccessDenied):
        sts(service, hank, "AssumeRole", RoleArn=foreign, RoleSessionName="s1")
    ivan = make_user(service, "ivan", allow("sts:AssumeRole", foreign))
    foreign2 = make_role(service, "foreign2", trusting(ivan.arn), account=B)
    with pytest.raises(AccessDenied):  # ivan's policy names the other role
        sts(service, ivan, "AssumeRole", RoleArn=foreign2, RoleSessionName="s1")
    jill = make_user(service, "jill", allow("sts:AssumeRole"))
    shared = make_role(service, "shared", trusting(jill.arn), account=B)
    out = sts(service, jill, "AssumeRole", RoleArn=shared, RoleSessionName="s1")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{B}:assumed-role/shared/s1"


def test_trust_conditions_see_external_id(service) -> None:
    kim = make_user(service, "kim")
    arn = make_role(
        service,
        "ext",
        trusting(kim.arn, Condition={"StringEquals": {"sts:ExternalId": "secret-1"}}),
    )
    with pytest.raises(AccessDenied):
        sts(service, kim, "AssumeRole", RoleArn=arn, RoleSessionName="s1")
    with pytest.raises(AccessDenied):
        sts(service, kim, "AssumeRole", RoleArn=arn, RoleSessionName="s1", ExternalId="nope")
    assert sts(service, kim, "AssumeRole", RoleArn=arn, RoleSessionName="s1", ExternalId="secret-1")


def test_sessions_have_their_role_permissions_cut_by_the_session_policy(service) -> None:
    leo = make_user(service, "leo")
    arn = make_role(service, "worker", trusting(leo.arn), allow("iam:*"))
    out = sts(service, leo, "AssumeRole", RoleArn=arn, RoleSessionName="s1")
    as_role = session_principal(out, arn)
    assert iam(service, as_role, "ListUsers")["IsTruncated"] is False
    scoped_text = policy(allow("iam:ListRoles"))
    out = sts(service, leo, "AssumeRole", RoleArn=arn, RoleSessionName="s2", Policy=scoped_text)
    scoped = session_principal(out, arn, scoped_text)
    assert "Roles" in iam(service, scoped, "ListRoles")
    with pytest.raises(AccessDenied, match="because no session policy allows"):
        iam(service, scoped, "ListUsers")
    chain = make_role(service, "chain", trusting(arn), MaxSessionDuration=7200)
    with pytest.raises(ValidationError, match="1 hour session limit"):  # role chaining
        sts(
            service,
            as_role,
            "AssumeRole",
            RoleArn=chain,
            RoleSessionName="s3",
            DurationSeconds=3601,
        )
    chained = sts(service, as_role, "AssumeRole", RoleArn=chain, RoleSessionName="s3")
    assert chained["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{A}:assumed-role/chain/s3"
    with pytest.raises(ValidationError, match="Must specify userName"):
        iam(service, as_role, "ListAccessKeys")


def test_root_users_own_keys_and_limits(service) -> None:
    first = iam(service, root(), "CreateAccessKey")["AccessKey"]
    assert "UserName" not in first or first["UserName"] is None
    listed = iam(service, root(), "ListAccessKeys")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [first["AccessKeyId"]]
    iam(service, root(), "DeleteAccessKey", AccessKeyId=first["AccessKeyId"])
    assert iam(service, root(), "ListAccessKeys")["AccessKeyMetadata"] == []


def test_unsupported_parameters_are_explicit(service) -> None:
    with pytest.raises(UnsupportedOperation):
        iam(
            service,
            root(),
            "CreateUser",
            UserName="m",
            PermissionsBoundary="arn:aws:iam::aws:policy/Boundary",
        )
    with pytest.raises(UnsupportedOperation):
        iam(service, root(), "CreateGroup", GroupName="g")
