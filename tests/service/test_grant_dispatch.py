"""Grants in process: who may retire, quotas, and the reads the authorizer will use."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import pytest

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain import grants as g
from openkms.domain import quotas
from openkms.domain.principals import Principal
from openkms.errors import (
    AccessDeniedException,
    DryRunOperationException,
    LimitExceededException,
    NotFoundException,
)
from openkms.service.context import RequestContext
from openkms.service.kms.dispatch import KMSService
from openkms.storage.engine import make_engine
from openkms.storage.grants import repository as store
from openkms.storage.repository import Store, Tx

A, B, C = "111122223333", "444455556666", "777788889999"
ALICE = f"arn:aws:iam::{A}:user/alice"
ROLE = f"arn:aws:iam::{A}:role/app"
SESSION = f"arn:aws:sts::{A}:assumed-role/app/run-1"


#: Every IAM principal may call RetireGrant as far as IAM is concerned, so that these tests
#: exercise what the grant itself decides.
RETIRE_ANYTHING = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:RetireGrant", "Resource": "*"}],
    }
)


def _iam_allows_retire(tx: Tx, principal: Principal) -> Sequence[str]:
    return [RETIRE_ANYTHING]


@pytest.fixture()
def service() -> KMSService:
    return KMSService(
        Store(make_engine("sqlite://")),
        SoftwareKeyring(new_root_key()),
        identity_policies=_iam_allows_retire,
    )


def ctx(account: str = A, arn: str | None = None, region: str = "us-east-1") -> RequestContext:
    if arn is not None and ":assumed-role/" in arn:
        role, session = arn.split(":assumed-role/", 1)[1].split("/", 1)
        principal = Principal.assumed_role(
            account,
            "AK",
            role_arn=f"arn:aws:iam::{account}:role/{role}",
            role_id="AROAEXAMPLEROLEID0001",
            session_name=session,
            expiration=time.time() + 60,
        )
    else:
        principal = Principal(account, arn or f"arn:aws:iam::{account}:root", "AK")
    return RequestContext("req", principal, region, time.time())


def new_key(service: KMSService) -> dict[str, str]:
    meta = service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]
    return {"KeyId": meta["KeyId"], "Arn": meta["Arn"]}


def new_grant(service: KMSService, key: dict[str, str], **params: object) -> dict[str, str]:
    request = {"KeyId": key["KeyId"], "GranteePrincipal": ALICE, "Operations": ["Decrypt"]}
    return dict(service.dispatch(ctx(), "CreateGrant", {**request, **params}))


def listed(service: KMSService, key: dict[str, str]) -> list[str]:
    grants = service.dispatch(ctx(), "ListGrants", {"KeyId": key["KeyId"]})["Grants"]
    return [entry["GrantId"] for entry in grants]


def test_the_retiring_principal_of_another_account_may_retire(service) -> None:
    key = new_key(service)
    by_token = new_grant(service, key, RetiringPrincipal=f"arn:aws:iam::{B}:root")
    by_id = new_grant(service, key, RetiringPrincipal=f"arn:aws:iam::{B}:root")
    service.dispatch(ctx(B), "RetireGrant", {"GrantToken": by_token["GrantToken"]})
    # Another account names the key by its ARN.
    service.dispatch(ctx(B), "RetireGrant", {"KeyId": key["Arn"], "GrantId": by_id["GrantId"]})
    assert listed(service, key) == []


def test_others_may_not_retire(service) -> None:
    key = new_key(service)
    made = new_grant(service, key, RetiringPrincipal=f"arn:aws:iam::{B}:root")
    for caller in (ctx(C), ctx(A, f"arn:aws:iam::{A}:user/mallory")):
        with pytest.raises(AccessDeniedException) as exc:
            service.dispatch(caller, "RetireGrant", {"GrantToken": made["GrantToken"]})
        assert exc.value.message == (
            f"User: {caller.principal.arn} is not authorized to perform: kms:RetireGrant "
            f"on resource: {key['Arn']}"
        )
    # A key id (not an ARN) names a key of the caller's own account.
    with pytest.raises(NotFoundException):
        service.dispatch(ctx(C), "RetireGrant", {"KeyId": key["KeyId"], "GrantId": made["GrantId"]})
    assert listed(service, key) == [made["GrantId"]]


def test_the_issuing_account_may_retire(service) -> None:
    key = new_key(service)
    made = new_grant(service, key)
    service.dispatch(ctx(A), "RetireGrant", {"GrantToken": made["GrantToken"]})
    assert listed(service, key) == []


def test_the_grantee_may_retire_only_with_retire_grant(service) -> None:
    key = new_key(service)
    plain = new_grant(service, key, GranteePrincipal=ROLE)
    retirable = new_grant(
        service, key, GranteePrincipal=ROLE, Operations=["Decrypt", "RetireGrant"]
    )
    session = ctx(A, SESSION)
    with pytest.raises(AccessDeniedException):
        service.dispatch(session, "RetireGrant", {"GrantToken": plain["GrantToken"]})
    service.dispatch(session, "RetireGrant", {"GrantToken": retirable["GrantToken"]})
    assert listed(service, key) == [plain["GrantId"]]


def test_grants_are_regional(service) -> None:
    key = new_key(service)
    made = new_grant(service, key)
    with pytest.raises(NotFoundException):
        service.dispatch(ctx(region="eu-west-1"), "RetireGrant", {"GrantToken": made["GrantToken"]})
    retirable = service.dispatch(
        ctx(region="eu-west-1"),
        "ListRetirableGrants",
        {"RetiringPrincipal": f"arn:aws:iam::{A}:root"},
    )
    assert retirable["Grants"] == []


def test_other_accounts_cannot_create_list_or_revoke(service) -> None:
    key = new_key(service)
    made = new_grant(service, key)
    request = {"KeyId": key["Arn"], "GranteePrincipal": ALICE, "Operations": ["Decrypt"]}
    for name, params in (
        ("CreateGrant", request),
        ("ListGrants", {"KeyId": key["Arn"]}),
        ("RevokeGrant", {"KeyId": key["Arn"], "GrantId": made["GrantId"]}),
    ):
        with pytest.raises(AccessDeniedException):
            service.dispatch(ctx(B), name, params)
    assert listed(service, key) == [made["GrantId"]]


def test_the_quota_of_grants_per_key(service, monkeypatch) -> None:
    monkeypatch.setitem(quotas.RESOURCE_DEFAULTS, quotas.GRANTS_PER_KEY, 2)
    key = new_key(service)
    new_grant(service, key, Name="first")
    new_grant(service, key)
    with pytest.raises(LimitExceededException):
        new_grant(service, key)
    # A retry of an existing named grant creates nothing, so the quota does not apply.
    assert new_grant(service, key, Name="first")["GrantId"] in listed(service, key)
    other = new_key(service)
    new_grant(service, other)


def test_dry_run_create_grant_stores_nothing(service) -> None:
    key = new_key(service)
    with pytest.raises(DryRunOperationException):
        new_grant(service, key, DryRun=True)
    assert listed(service, key) == []


def test_the_reads_the_authorizer_uses(service) -> None:
    key = new_key(service)
    subset = {"EncryptionContextSubset": {"Department": "IT"}}
    constrained = new_grant(service, key, GranteePrincipal=ROLE, Constraints=subset)["GrantId"]
    open_ = new_grant(service, key, GranteePrincipal=ALICE, Operations=["Encrypt"])["GrantId"]
    other = new_key(service)
    new_grant(service, other, GranteePrincipal=ROLE)
    with service.store.transaction() as tx:
        every = store.grants_for_key(tx, key["KeyId"])
        mine = store.grants_for_grantee(tx, key["KeyId"], [SESSION, ROLE, SESSION])
    assert {grant.grant_id for grant in every} == {constrained, open_}
    assert [grant.grant_id for grant in mine] == [constrained]
    identities = [SESSION, ROLE]
    allowed = g.grant_allows(mine, identities, "kms:Decrypt", {"Department": "IT"})
    assert allowed is not None and allowed.grant_id == constrained
    assert g.grant_allows(mine, identities, "kms:Decrypt", {"Department": "HR"}) is None
    assert g.grant_allows(every, identities, "kms:Encrypt", None) is None
    assert g.grant_allows(every, [ALICE], "kms:Encrypt", None) is not None


def test_the_grantee_needs_no_iam_permission_to_retire() -> None:
    """AWS: principals specified in the grant can retire it without the kms:RetireGrant
    permission (grant-delete.html)."""
    service = KMSService(Store(make_engine("sqlite://")), SoftwareKeyring(new_root_key()))
    key = new_key(service)
    made = new_grant(service, key, GranteePrincipal=ROLE, Operations=["Decrypt", "RetireGrant"])
    service.dispatch(ctx(A, SESSION), "RetireGrant", {"GrantToken": made["GrantToken"]})
    assert listed(service, key) == []


def test_a_grant_lets_its_grantee_use_the_key() -> None:
    """The key policy does not name the grantee; the grant alone lets it encrypt, within its
    constraints, and nothing else."""
    import base64

    from openkms.errors import AccessDeniedException

    service = KMSService(Store(make_engine("sqlite://")), SoftwareKeyring(new_root_key()))
    key = new_key(service)
    new_grant(
        service,
        key,
        GranteePrincipal=ROLE,
        Operations=["Encrypt"],
        Constraints={"EncryptionContextSubset": {"Department": "IT"}},
    )
    plaintext = base64.b64encode(b"granted").decode()
    key_id = key["KeyId"]
    out = service.dispatch(
        ctx(A, SESSION),
        "Encrypt",
        {"KeyId": key_id, "Plaintext": plaintext, "EncryptionContext": {"Department": "IT"}},
    )
    assert out["KeyId"] == key["Arn"]
    for params in (
        {"KeyId": key_id, "Plaintext": plaintext, "EncryptionContext": {"Department": "HR"}},
        {"KeyId": key_id, "Plaintext": plaintext},
    ):
        with pytest.raises(AccessDeniedException):
            service.dispatch(ctx(A, SESSION), "Encrypt", params)
    with pytest.raises(AccessDeniedException):
        service.dispatch(ctx(A, SESSION), "DescribeKey", {"KeyId": key_id})
