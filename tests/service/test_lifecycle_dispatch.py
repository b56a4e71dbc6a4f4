"""Key lifecycle in process: import tokens over time, and maintenance as of any time.

The HTTP server's clock is real; here the request context's time and the maintenance
run's ``at`` are set by the test, so 24-hour tokens and 365-day expiry can be crossed.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.principals import Principal
from openkms.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidImportTokenException,
    KMSInvalidStateException,
    NotFoundException,
)
from openkms.service.context import RequestContext
from openkms.service.kms.dispatch import KMSService
from openkms.service.maintenance import Maintenance
from openkms.storage.audit import trail as audit_store
from openkms.storage.engine import make_engine
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Store

ACCOUNT = "111122223333"
DAY = 86_400.0


@pytest.fixture()
def service() -> KMSService:
    return KMSService(Store(make_engine("sqlite://")), SoftwareKeyring(new_root_key()))


def ctx(now: float) -> RequestContext:
    return RequestContext("req", Principal.root(ACCOUNT, "AK"), "us-east-1", now)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wrap_oaep(public_der: bytes, material: bytes) -> bytes:
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return public.encrypt(material, oaep)


def parameters(service: KMSService, key_id: str, now: float) -> Mapping[str, object]:
    return service.dispatch(
        ctx(now),
        "GetParametersForImport",
        {"KeyId": key_id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"},
    )


def import_request(key_id: str, params: Mapping[str, object], material: bytes) -> dict[str, object]:
    """An ImportKeyMaterial request for ``material`` with a GetParametersForImport answer."""
    token, public = params["ImportToken"], params["PublicKey"]
    assert isinstance(token, bytes) and isinstance(public, bytes)
    return {
        "KeyId": key_id,
        "ImportToken": b64(token),
        "EncryptedKeyMaterial": b64(wrap_oaep(public, material)),
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }


def do_import(
    service: KMSService, key_id: str, material: bytes, now: float, **extra: object
) -> Mapping[str, object]:
    request = import_request(key_id, parameters(service, key_id, now), material)
    return service.dispatch(ctx(now), "ImportKeyMaterial", {**request, **extra})


def external_key(service: KMSService, now: float) -> str:
    meta = service.dispatch(ctx(now), "CreateKey", {"Origin": "EXTERNAL"})["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport"
    return str(meta["KeyId"])


def test_an_import_token_expires_after_24_hours(service) -> None:
    now = time.time()
    key_id = external_key(service, now)
    params = parameters(service, key_id, now)
    assert params["ParametersValidTo"] == pytest.approx(now + DAY)
    request = import_request(key_id, params, os.urandom(32))
    with pytest.raises(ExpiredImportTokenException):
        service.dispatch(ctx(now + DAY + 1), "ImportKeyMaterial", request)
    # A minute before the end it still works.
    service.dispatch(ctx(now + DAY - 60), "ImportKeyMaterial", request)


def test_purged_tokens_stay_recognisably_expired(service) -> None:
    now = time.time()
    key_id = external_key(service, now)
    params = parameters(service, key_id, now)
    report = Maintenance(service.store, service.keyring).run(now + DAY + 5)
    assert report.import_tokens_purged == 1
    request = import_request(key_id, params, os.urandom(32))
    with pytest.raises(ExpiredImportTokenException):
        service.dispatch(ctx(now + DAY + 10), "ImportKeyMaterial", request)
    # Within its 24 hours, a purged (or used) token is simply invalid.
    with pytest.raises(InvalidImportTokenException):
        service.dispatch(ctx(now + 10), "ImportKeyMaterial", request)


def test_valid_to_is_measured_from_the_request_time(service) -> None:
    now = time.time()
    key_id = external_key(service, now)
    material = os.urandom(32)
    result = do_import(
        service,
        key_id,
        material,
        now,
        ExpirationModel="KEY_MATERIAL_EXPIRES",
        ValidTo=now + 365 * DAY - 1,
    )
    assert len(str(result["KeyMaterialId"])) == 64


def test_expiry_deletion_and_reimport_as_of_any_time(service) -> None:
    now = time.time()
    key_id = external_key(service, now)
    material = os.urandom(32)
    do_import(
        service, key_id, material, now, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=now + DAY
    )
    blob = service.dispatch(ctx(now), "Encrypt", {"KeyId": key_id, "Plaintext": b64(b"old")})
    maintenance = Maintenance(service.store, service.keyring)
    assert not maintenance.run(now + DAY - 1).expired
    report = maintenance.run(now + DAY)
    assert [e["KeyId"] for e in report.expired] == [key_id]
    assert maintenance.run(now + DAY).expired == []  # exactly once
    later = now + 2 * DAY
    with pytest.raises(KMSInvalidStateException, match="is pending import"):
        service.dispatch(ctx(later), "Decrypt", {"CiphertextBlob": b64(blob["CiphertextBlob"])})
    with pytest.raises(IncorrectKeyMaterialException):
        do_import(service, key_id, os.urandom(32), later)
    do_import(service, key_id, material, later)
    opened = service.dispatch(
        ctx(later), "Decrypt", {"CiphertextBlob": b64(blob["CiphertextBlob"])}
    )
    assert opened["Plaintext"] == b"old"


def test_deletion_removes_key_aliases_and_grants_and_is_audited(service) -> None:
    now = time.time()
    key_id = service.dispatch(ctx(now), "CreateKey", {})["KeyMetadata"]["KeyId"]
    service.dispatch(ctx(now), "CreateAlias", {"AliasName": "alias/doomed", "TargetKeyId": key_id})
    service.dispatch(
        ctx(now),
        "CreateGrant",
        {
            "KeyId": key_id,
            "GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:root",
            "Operations": ["Encrypt"],
        },
    )
    service.dispatch(ctx(now), "ScheduleKeyDeletion", {"KeyId": key_id, "PendingWindowInDays": 7})
    maintenance = Maintenance(service.store, service.keyring)
    assert maintenance.run(now + 7 * DAY - 60).deleted == []
    report = maintenance.run(now + 7 * DAY + 60)
    assert report.deleted == [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"]
    with pytest.raises(NotFoundException):
        service.dispatch(ctx(now), "DescribeKey", {"KeyId": key_id})
    aliases = service.dispatch(ctx(now), "ListAliases", {})["Aliases"]
    assert all(a["AliasName"] != "alias/doomed" for a in aliases)
    with service.store.transaction() as tx:
        assert key_records.list_materials(tx, key_id) == []
        events = audit_store.read_chain(tx)
    deletes = [e for e in events if e.event_name == "DeleteKey"]
    assert len(deletes) == 1
    assert '"eventType":"AwsServiceEvent"' in deletes[0].record
    assert maintenance.run(now + 30 * DAY).deleted == []


def test_automatic_rotation_is_due_by_its_period(service) -> None:
    now = time.time()
    key_id = service.dispatch(ctx(now), "CreateKey", {})["KeyMetadata"]["KeyId"]
    service.dispatch(ctx(now), "EnableKeyRotation", {"KeyId": key_id, "RotationPeriodInDays": 90})
    blob = service.dispatch(ctx(now), "Encrypt", {"KeyId": key_id, "Plaintext": b64(b"v1")})
    maintenance = Maintenance(service.store, service.keyring)
    assert maintenance.run(now + 90 * DAY - 1).rotated == []
    rotated = maintenance.run(now + 90 * DAY).rotated
    assert [r["RotationType"] for r in rotated] == ["AUTOMATIC"]
    assert maintenance.run(now + 90 * DAY).rotated == []
    status = service.dispatch(ctx(now), "GetKeyRotationStatus", {"KeyId": key_id})
    assert status["NextRotationDate"] == pytest.approx(now + 180 * DAY)
    meta = service.dispatch(ctx(now), "DescribeKey", {"KeyId": key_id})["KeyMetadata"]
    assert meta["CurrentKeyMaterialId"] == rotated[0]["KeyMaterialId"]
    fresh = service.dispatch(ctx(now), "Encrypt", {"KeyId": key_id, "Plaintext": b64(b"v2")})
    opened = service.dispatch(ctx(now), "Decrypt", {"CiphertextBlob": b64(fresh["CiphertextBlob"])})
    assert opened["KeyMaterialId"] == rotated[0]["KeyMaterialId"]
    opened = service.dispatch(ctx(now), "Decrypt", {"CiphertextBlob": b64(blob["CiphertextBlob"])})
    assert opened["Plaintext"] == b"v1"
    assert opened["KeyMaterialId"] != rotated[0]["KeyMaterialId"]


def test_discarded_material_never_lends_its_version_to_other_material(service) -> None:
    """Every node caches unwrapped material by (key id, version): a version number, once
    given to material, must never name other material, even after that material was
    deleted before it was ever used."""
    now = time.time()
    key_id = external_key(service, now)
    do_import(service, key_id, os.urandom(32), now)
    second = do_import(service, key_id, os.urandom(32), now, ImportType="NEW_KEY_MATERIAL")
    other_node = KMSService(service.store, service.keyring)  # shares the database only
    with service.store.transaction() as tx:
        key = key_records.get_key(tx, key_id)
        assert key is not None
        assert other_node.materials.get(tx, key, 2) is not None  # cached on "another node"
    service.dispatch(
        ctx(now),
        "DeleteImportedKeyMaterial",
        {"KeyId": key_id, "KeyMaterialId": second["KeyMaterialId"]},
    )
    third = do_import(service, key_id, os.urandom(32), now, ImportType="NEW_KEY_MATERIAL")
    with service.store.transaction() as tx:
        versions = {m.version: m.material_id for m in key_records.list_materials(tx, key_id)}
    assert versions[3] == third["KeyMaterialId"] and 2 not in versions
    service.dispatch(ctx(now), "RotateKeyOnDemand", {"KeyId": key_id})
    Maintenance(service.store, service.keyring).run(now)
    blob = service.dispatch(ctx(now), "Encrypt", {"KeyId": key_id, "Plaintext": b64(b"new")})
    # The stale node opens it with the right material, and reports the right id.
    opened = other_node.dispatch(
        ctx(now), "Decrypt", {"CiphertextBlob": b64(blob["CiphertextBlob"])}
    )
    assert opened["Plaintext"] == b"new"
    assert opened["KeyMaterialId"] == third["KeyMaterialId"]
