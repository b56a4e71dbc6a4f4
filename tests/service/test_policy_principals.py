"""Key-policy principals bound to unique ids (issue 10, defect 9), on roles with a path."""

from __future__ import annotations

import json
import time

import pytest

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal
from openkms.errors import MalformedPolicyDocumentException
from openkms.server.credentials import CredentialStore
from openkms.service.context import RequestContext
from openkms.service.identity.dispatch import IdentityService
from openkms.service.kms.dispatch import KMSService
from openkms.storage.engine import make_engine
from openkms.storage.repository import Store

A = "111122223333"
ROOT = RequestContext("r", Principal.root(A, "AKIAROOT"), "us-east-1", time.time())
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole"}],
    }
)


def test_a_deleted_role_reads_as_its_unique_id() -> None:
    keyring = SoftwareKeyring(new_root_key())
    store = Store(make_engine("sqlite://"))
    CredentialStore(store, keyring).put_root(A, "AKIAROOT", "s" * 40, time.time())
    iam, kms = IdentityService(store, keyring), KMSService(store, keyring)
    role = iam.dispatch(
        "iam",
        ROOT,
        "CreateRole",
        {"RoleName": "deployer", "Path": "/app/", "AssumeRolePolicyDocument": TRUST},
    )["Role"]
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": role["Arn"]},
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                },
            ],
        }
    )
    key_id = kms.dispatch(ROOT, "CreateKey", {"Policy": text})["KeyMetadata"]["KeyId"]
    assert kms.dispatch(ROOT, "GetKeyPolicy", {"KeyId": key_id})["Policy"] == text
    iam.dispatch("iam", ROOT, "DeleteRole", {"RoleName": "deployer"})
    shown = json.loads(kms.dispatch(ROOT, "GetKeyPolicy", {"KeyId": key_id})["Policy"])
    assert shown["Statement"][1]["Principal"] == {"AWS": role["RoleId"]}
    # The same name without the path is another principal, which does not exist.
    iam.dispatch(
        "iam", ROOT, "CreateRole", {"RoleName": "deployer", "AssumeRolePolicyDocument": TRUST}
    )
    with pytest.raises(MalformedPolicyDocumentException):
        kms.dispatch(ROOT, "PutKeyPolicy", {"KeyId": key_id, "Policy": text})
    store.close()
