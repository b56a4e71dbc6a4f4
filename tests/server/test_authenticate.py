"""The one authentication step of KMS, IAM/STS and CloudTrail, and its one dev-mode rule:
a known access key means its owner, anything else the default account's root; the
region comes from the credential scope."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from openkms.auth.sigv4 import SigV4Verifier
from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal, PrincipalKind
from openkms.server.authenticate import Authenticator
from openkms.server.bootstrap import Settings
from openkms.server.credentials import CredentialStore
from openkms.service.context import RequestContext
from openkms.service.identity.dispatch import IdentityService
from openkms.storage.engine import make_engine
from openkms.storage.repository import Store

ACCOUNT = "111122223333"
ROOT = Principal.root(ACCOUNT, "AKIAROOT")


@pytest.fixture()
def world() -> Iterator[tuple[Authenticator, IdentityService]]:
    keyring = SoftwareKeyring(new_root_key())
    store = Store(make_engine("sqlite://"))
    settings = Settings(None, None, ACCOUNT, dev=True, region="eu-west-3")
    yield Authenticator(settings, CredentialStore(store, keyring)), IdentityService(store, keyring)
    store.close()


def headers(access_key_id: str, region: str, service: str) -> dict[str, str]:
    return {
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential={access_key_id}/20260101/{region}/{service}/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        ),
        "x-amz-date": "20260101T000000Z",
        "host": "localhost",
    }


@pytest.mark.parametrize("service", ["kms", "iam", "sts", "cloudtrail"])
def test_dev_mode_is_one_rule_for_every_api(world, service: str) -> None:
    authenticator, identity = world
    ctx = RequestContext("r", ROOT, "us-east-1", time.time())
    identity.dispatch("iam", ctx, "CreateUser", {"UserName": "alice"})
    key = identity.dispatch("iam", ctx, "CreateAccessKey", {"UserName": "alice"})["AccessKey"]
    verifier = SigV4Verifier(authenticator.credentials.secret, service=service)
    scope = {"method": "POST", "path": "/", "query_string": b""}

    known, region = authenticator.authenticate(
        verifier, scope, headers(key["AccessKeyId"], "ap-south-1", service), b""
    )
    assert (known.kind, known.user_name, region) == (PrincipalKind.IAM_USER, "alice", "ap-south-1")
    unknown, region = authenticator.authenticate(
        verifier, scope, headers("AKIAUNKNOWN000000000", "us-west-2", service), b""
    )
    assert (unknown.arn, unknown.is_root, region) == (
        f"arn:aws:iam::{ACCOUNT}:root",
        True,
        "us-west-2",
    )
    anonymous, region = authenticator.authenticate(verifier, scope, {}, b"")
    assert (anonymous.is_root, region) == (True, "eu-west-3")
