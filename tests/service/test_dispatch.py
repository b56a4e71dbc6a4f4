"""The dispatcher: one transaction per request, authorization before handlers."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal
from openkms.errors import AccessDeniedException, DryRunOperationException, ValidationException
from openkms.service.context import RequestContext
from openkms.service.kms.dispatch import KMSService
from openkms.storage.engine import make_engine
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Store, Tx

ACCOUNT = "111122223333"


@pytest.fixture()
def service() -> KMSService:
    return KMSService(Store(make_engine("sqlite://")), SoftwareKeyring(new_root_key()))


def ctx(account: str = ACCOUNT, region: str = "us-east-1") -> RequestContext:
    return RequestContext("req", Principal.root(account, "AK"), region, time.time())


def test_failure_inside_a_handler_leaves_nothing_behind(service, monkeypatch) -> None:
    def explode(tx: Tx, key_id: str, tags: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(key_records, "replace_tags", explode)
    with pytest.raises(RuntimeError):
        service.dispatch(ctx(), "CreateKey", {"Description": "half"})
    monkeypatch.undo()
    assert service.dispatch(ctx(), "ListKeys", {})["Keys"] == []
    with service.store.transaction() as tx:
        assert key_records.list_keys(tx, ACCOUNT, "us-east-1", None, 10) == []


def test_other_accounts_are_denied_before_the_handler_runs(service, monkeypatch) -> None:
    key = service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]
    called: list[tuple[object, ...]] = []
    import openkms.service.kms.ops.keys as keys_ops

    def recording(*args: object) -> dict[str, object]:
        called.append(args)
        return {}

    monkeypatch.setattr(keys_ops, "key_metadata", recording)
    with pytest.raises(AccessDeniedException) as exc:
        service.dispatch(ctx("444455556666"), "DescribeKey", {"KeyId": key["Arn"]})
    assert exc.value.message == (
        "User: arn:aws:iam::444455556666:root is not authorized to perform: kms:DescribeKey "
        f"on resource: {key['Arn']} because no resource-based policy allows the "
        "kms:DescribeKey action"
    )
    assert called == []


def test_dry_run_has_no_effect_and_says_so(service) -> None:
    key = service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]["KeyId"]
    params = {"KeyId": key, "Plaintext": base64.b64encode(b"x").decode(), "DryRun": True}
    with pytest.raises(DryRunOperationException):
        service.dispatch(ctx(), "Encrypt", params)


def test_material_is_stored_wrapped(service) -> None:
    key_id = service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]["KeyId"]
    with service.store.transaction() as tx:
        material = key_records.get_material(tx, key_id, 1)
        key = key_records.get_key(tx, key_id)
        assert material is not None and key is not None
        backing = service.materials.get(tx, key, 1)
    assert backing is not None and len(backing[0]) == 32
    assert material.wrapped is not None and backing[0] not in material.wrapped


def test_costly_preparation_waits_for_authorization(monkeypatch) -> None:
    """CreateKey makes its RSA key before its write transaction (so the database's write
    lock is not held for seconds), but only once the caller is authorized: a caller
    without permission cannot make the server generate keys."""
    import dataclasses

    from openkms.service.kms.ops import REGISTRY

    deny_all = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}'
    )
    service = KMSService(
        Store(make_engine("sqlite://")),
        SoftwareKeyring(new_root_key()),
        identity_policies=lambda tx, principal: [] if principal.is_root else [deny_all],
    )
    prepared: list[object] = []
    op = REGISTRY["CreateKey"]
    assert op.prepare is not None
    original = op.prepare

    def counting(svc: Any, params: dict[str, object]) -> object:
        prepared.append(params.get("KeySpec"))
        return original(svc, params)

    monkeypatch.setitem(REGISTRY, "CreateKey", dataclasses.replace(op, prepare=counting))
    user = Principal.user(
        ACCOUNT,
        f"arn:aws:iam::{ACCOUNT}:user/nobody",
        "AKUSER",
        user_id="AIDANOBODY",
        user_name="nobody",
    )
    denied = RequestContext("req", user, "us-east-1", time.time())
    params = {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}
    with pytest.raises(AccessDeniedException):
        service.dispatch(denied, "CreateKey", params)
    assert prepared == []
    created = service.dispatch(ctx(), "CreateKey", params)["KeyMetadata"]
    assert prepared == ["RSA_2048"] and created["KeySpec"] == "RSA_2048"


@pytest.mark.parametrize("name", ["Decrypt", "ReEncrypt"])
def test_an_rsa_decryption_without_a_ciphertext_is_a_validation_error(service, name) -> None:
    """The model makes CiphertextBlob optional; with an RSA algorithm the dispatcher does not
    read it to find the key, so the handler refuses it (it was a KeyError, a 500)."""
    key_id = service.dispatch(
        ctx(), "CreateKey", {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}
    )["KeyMetadata"]["KeyId"]
    algorithm = "RSAES_OAEP_SHA_256"
    params: dict[str, Any] = (
        {"KeyId": key_id, "EncryptionAlgorithm": algorithm}
        if name == "Decrypt"
        else {
            "SourceKeyId": key_id,
            "SourceEncryptionAlgorithm": algorithm,
            "DestinationKeyId": service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]["KeyId"],
        }
    )
    with pytest.raises(ValidationException, match="Value null at 'ciphertextBlob'"):
        service.dispatch(ctx(), name, params)


def _policy(condition: dict[str, object] | None = None) -> str:
    import json

    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    if condition is not None:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _encrypt(service: KMSService, key_id: str, app: str) -> None:
    params = {
        "KeyId": key_id,
        "Plaintext": base64.b64encode(b"x").decode(),
        "EncryptionContext": {"app": app},
    }
    service.dispatch(ctx(), "Encrypt", params)


def test_a_policy_that_reads_the_request_is_asked_every_time(service) -> None:
    """The allow memo keeps only answers that no condition key can change."""
    policy = _policy({"StringEquals": {"kms:EncryptionContext:app": "yes"}})
    key_id = service.dispatch(
        ctx(), "CreateKey", {"Policy": policy, "BypassPolicyLockoutSafetyCheck": True}
    )["KeyMetadata"]["KeyId"]
    for _ in range(2):
        _encrypt(service, key_id, "yes")
        with pytest.raises(AccessDeniedException):
            _encrypt(service, key_id, "no")


def test_a_kept_allow_ends_with_the_policy_that_gave_it(service) -> None:
    key_id = service.dispatch(ctx(), "CreateKey", {"Policy": _policy()})["KeyMetadata"]["KeyId"]
    _encrypt(service, key_id, "no")
    _encrypt(service, key_id, "no")  # answered from the memo
    narrowed = _policy({"StringEquals": {"kms:EncryptionContext:app": "yes"}})
    service.dispatch(
        ctx(),
        "PutKeyPolicy",
        {
            "KeyId": key_id,
            "Policy": narrowed,
            "PolicyName": "default",
            "BypassPolicyLockoutSafetyCheck": True,
        },
    )
    with pytest.raises(AccessDeniedException):
        _encrypt(service, key_id, "no")


def test_only_context_free_policies_may_be_remembered() -> None:
    from openkms.domain.keys import Key
    from openkms.service.kms.authorize import allowed_whatever_the_context

    class _Key:
        arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        account = ACCOUNT
        policy = _policy()

    key: Key = _Key()  # type: ignore[assignment]
    root = Principal.root(ACCOUNT, "AK")
    assert allowed_whatever_the_context(root, "kms:Encrypt", key, lambda p: (), _policy())
    conditional = _policy({"Bool": {"aws:SecureTransport": "true"}})
    assert not allowed_whatever_the_context(root, "kms:Encrypt", key, lambda p: (), conditional)
    stranger = Principal.root("444455556666", "AK2")
    assert not allowed_whatever_the_context(stranger, "kms:Encrypt", key, lambda p: (), _policy())
