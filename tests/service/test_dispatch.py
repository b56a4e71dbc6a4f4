"""The dispatcher: one transaction per request, authorization before handlers."""

from __future__ import annotations

import base64
import time

import pytest

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal
from openkms.errors import AccessDeniedException, DryRunOperationException
from openkms.service.context import RequestContext
from openkms.service.kms import KMSService
from openkms.storage.engine import make_engine
from openkms.storage.repository import Store, Tx

ACCOUNT = "111122223333"


@pytest.fixture()
def service() -> KMSService:
    return KMSService(Store(make_engine("sqlite://")), SoftwareKeyring(new_root_key()))


def ctx(account: str = ACCOUNT, region: str = "us-east-1") -> RequestContext:
    return RequestContext("req", Principal.root(account, "AK"), region, time.time())


def test_failure_inside_a_handler_leaves_nothing_behind(service, monkeypatch) -> None:
    def explode(self: Tx, key_id: str, tags: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Tx, "replace_tags", explode)
    with pytest.raises(RuntimeError):
        service.dispatch(ctx(), "CreateKey", {"Description": "half"})
    monkeypatch.undo()
    assert service.dispatch(ctx(), "ListKeys", {})["Keys"] == []
    with service.store.transaction() as tx:
        assert tx.list_keys(ACCOUNT, "us-east-1", None, 10) == []


def test_other_accounts_are_denied_before_the_handler_runs(service, monkeypatch) -> None:
    key = service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]
    called = []
    import openkms.service.ops.keys as keys_ops

    monkeypatch.setattr(keys_ops, "key_metadata", lambda *a: called.append(a) or {})
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
        material = tx.get_material(key_id, 1)
        key = tx.get_key(key_id)
        assert material is not None and key is not None
        backing = service.materials.get(tx, key, 1)
    assert backing is not None and len(backing[0]) == 32
    assert backing[0] not in material.wrapped
