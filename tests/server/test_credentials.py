"""CredentialStore: user keys and sessions resolve to principals; revocation is seen by
every node at once (two stores on one database stand for two server processes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal, PrincipalKind
from openkms.errors import ExpiredTokenException, UnrecognizedClientException
from openkms.server.credentials import CredentialStore
from openkms.service.context import RequestContext
from openkms.service.identity.dispatch import IdentityService
from openkms.storage.engine import make_engine, sqlite_url
from openkms.storage.repository import Store

ACCOUNT = "111122223333"
ROOT = Principal.root(ACCOUNT, "AKIAROOT")


@pytest.fixture()
def nodes(tmp_path) -> Iterator[tuple[CredentialStore, CredentialStore, IdentityService]]:
    keyring = SoftwareKeyring(new_root_key())
    url = sqlite_url(str(tmp_path))
    first, second = Store(make_engine(url)), Store(make_engine(url))
    yield (
        CredentialStore(first, keyring),
        CredentialStore(second, keyring),
        IdentityService(second, keyring),
    )
    first.close()
    second.close()


def iam(
    service: IdentityService, action: str, who: Principal = ROOT, **params: object
) -> dict[str, Any]:
    ctx = RequestContext("r", who, "us-east-1", time.time())
    return service.dispatch("iam", ctx, action, dict(params))


def test_user_key_resolves_and_revocation_is_seen_by_other_nodes(nodes) -> None:
    node_a, node_b, service = nodes
    user = iam(service, "CreateUser", UserName="alice", Tags=[{"Key": "team", "Value": "x"}])
    key = iam(service, "CreateAccessKey", UserName="alice")["AccessKey"]
    akid = key["AccessKeyId"]
    assert node_a.secret(akid) == key["SecretAccessKey"]
    principal = node_a.principal_for(akid, None)
    assert principal.kind is PrincipalKind.IAM_USER
    assert (principal.arn, principal.principal_id, principal.user_name, principal.tags) == (
        user["User"]["Arn"],
        user["User"]["UserId"],
        "alice",
        (("team", "x"),),
    )
    with pytest.raises(UnrecognizedClientException):  # a long-term key takes no token
        node_a.principal_for(akid, "token")

    iam(service, "UpdateAccessKey", UserName="alice", AccessKeyId=akid, Status="Inactive")
    with pytest.raises(UnrecognizedClientException):
        node_a.principal_for(akid, None)
    iam(service, "UpdateAccessKey", UserName="alice", AccessKeyId=akid, Status="Active")
    assert node_a.principal_for(akid, None).user_name == "alice"

    iam(service, "TagUser", UserName="alice", Tags=[{"Key": "team", "Value": "y"}])
    assert node_a.principal_for(akid, None).tags == (("team", "y"),)

    iam(service, "DeleteAccessKey", UserName="alice", AccessKeyId=akid)
    with pytest.raises(UnrecognizedClientException):
        node_a.principal_for(akid, None)
    assert node_a.secret(akid) is None


def test_sessions_check_token_and_expiry(nodes) -> None:
    _, node_b, service = nodes
    now = [time.time()]
    clocked = CredentialStore(service.store, service.keyring, clock=lambda: now[0])
    iam(service, "CreateUser", UserName="bob")
    bob_key = iam(service, "CreateAccessKey", UserName="bob")["AccessKey"]
    bob = node_b.principal_for(bob_key["AccessKeyId"], None)
    trust = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"'
        + bob.arn
        + '"},"Action":"sts:AssumeRole"}]}'
    )
    role = iam(
        service,
        "CreateRole",
        RoleName="R",
        AssumeRolePolicyDocument=trust,
        Tags=[{"Key": "env", "Value": "t"}],
    )["Role"]
    ctx = RequestContext("r", bob, "us-east-1", now[0])
    out = service.dispatch(
        "sts",
        ctx,
        "AssumeRole",
        {
            "RoleArn": role["Arn"],
            "RoleSessionName": "s1",
            "DurationSeconds": 900,
            "Tags": [{"Key": "env", "Value": "session"}],
        },
    )
    creds = out["Credentials"]
    akid, token = creds["AccessKeyId"], creds["SessionToken"]
    assert clocked.secret(akid) == creds["SecretAccessKey"]
    session = clocked.principal_for(akid, token)
    assert session.kind is PrincipalKind.ASSUMED_ROLE
    assert session.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s1"
    assert session.role_arn == role["Arn"] and session.principal_id == f"{role['RoleId']}:s1"
    assert session.tags == (("env", "session"),)  # session tags override role tags
    for wrong in (None, token + "x", ""):
        with pytest.raises(UnrecognizedClientException):
            clocked.principal_for(akid, wrong)
    now[0] = creds["Expiration"] - 0.5
    assert clocked.principal_for(akid, token) == session
    now[0] = creds["Expiration"]
    with pytest.raises(
        ExpiredTokenException, match="^The security token included in the request is expired$"
    ):
        clocked.principal_for(akid, token)


def test_unknown_keys(nodes) -> None:
    node_a, _, _ = nodes
    assert node_a.secret("AKIANOSUCHKEY0000000") is None
    with pytest.raises(UnrecognizedClientException):
        node_a.principal_for("ASIANOSUCHKEY0000000", "token")
