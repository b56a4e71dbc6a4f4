"""Custom key store operations through the dispatcher, in process, with an in-memory
backend plugged into the store-type seam (openkms.crypto.key_stores.KeyStoreBackend):
the quota, paging, accounts, connection failures, keys sealed through the backend and
their backing keys destroyed with them. The PKCS#11 backend itself is tested against
SoftHSM2 in tests/crypto/test_hsm_keys.py and tests/server/test_cloudhsm_key_stores.py."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping

import pytest

from openkms.crypto.key_stores import BackingKey, StoreTarget
from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain import ciphertext as fmt
from openkms.domain.custom_key_stores import ConnectionErrorCode, CustomKeyStoreType, HSMCluster
from openkms.domain.principals import Principal
from openkms.errors import (
    CloudHsmClusterNotActiveException,
    CustomKeyStoreNotFoundException,
    DisabledException,
    InvalidCiphertextException,
    KMSInvalidStateException,
    LimitExceededException,
    ValidationException,
)
from openkms.service.context import RequestContext
from openkms.service.kms.dispatch import KMSService
from openkms.service.kms.key_stores import KeyStores
from openkms.service.maintenance import Maintenance
from openkms.storage.engine import make_engine
from openkms.storage.key_stores import repository as store_records
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import StorageError, Store

ACCOUNT = "111122223333"
ANCHOR = """-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUSxJC34dJpnWqWHs58qVI1z8wvwwwCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEZGVtbzAeFw0yNjEyMDUwODU0MjBaFw0yNzEyMDUwODU0MjBa
MA8xDTALBgNVBAMMBGRlbW8wWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQWwTjg
HEXpbGiEWQqH9xlHTlHlsrRpMiET3s9o4LS/1+2nG8IuKB7VPVH9Ej4tl91k/JcX
9Z5eWY8EDYuo5Sdso1MwUTAdBgNVHQ4EFgQU/4L5Vbec010vXuoWQfY+7b4cjrUw
HwYDVR0jBBgwFoAU/4L5Vbec010vXuoWQfY+7b4cjrUwDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiEAtcIj10iKZCQ45shr9Unh3JuTtX4DxxMn/1eb
v2zqh2sCIH9uDF0r8588TSa9FlHjhucfFwldyWJAQbUo02+S/bGn
-----END CERTIFICATE-----
"""


class MemoryBackend:
    """A key store type whose "HSM" is a dict: keys by label, blobs that carry their
    plaintext reversed (no cryptography; the seam is what is tested)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.refuse: ConnectionErrorCode | None = None
        self.disconnected: list[str] = []

    def check(self, target: StoreTarget) -> None:
        assert target.cluster is not None

    def connect(self, target: StoreTarget) -> ConnectionErrorCode | None:
        assert target.password() == b"kmsuser-pin"
        return self.refuse

    def disconnect(self, store_id: str) -> None:
        self.disconnected.append(store_id)

    def new_key(self, target: StoreTarget, key: BackingKey, version: int) -> None:
        self.keys.add(f"{key.key_id}/{version}")

    def encrypt(
        self,
        target: StoreTarget,
        key: BackingKey,
        version: int,
        plaintext: bytes,
        context: Mapping[str, str] | None,
    ) -> bytes:
        assert f"{key.key_id}/{version}" in self.keys
        return fmt.build_header(key.key_id, version, bytes(16), bytes(12)) + plaintext[::-1]

    def decrypt(
        self,
        target: StoreTarget,
        key: BackingKey,
        parsed: fmt.ParsedCiphertext,
        context: Mapping[str, str] | None,
    ) -> bytes:
        if f"{key.key_id}/{parsed.key_version}" not in self.keys:
            raise InvalidCiphertextException()
        return parsed.sealed[::-1]

    def destroy(self, target: StoreTarget, key_id: str, version: int) -> int:
        self.keys.discard(f"{key_id}/{version}")
        return 1

    def random(self, target: StoreTarget, count: int) -> bytes:
        return b"\x07" * count


@pytest.fixture()
def setup() -> tuple[KMSService, MemoryBackend]:
    keyring = SoftwareKeyring(new_root_key())
    service = KMSService(Store(make_engine("sqlite://")), keyring)
    backend = MemoryBackend()
    service.key_stores = KeyStores(keyring, backends={CustomKeyStoreType.AWS_CLOUDHSM: backend})
    with service.store.transaction(write=True) as tx:
        for n in range(11):
            cluster_id = f"cluster-openkmstest{'abcdefghijk'[n]}"
            store_records.insert_cluster(tx, HSMCluster(cluster_id, "m.so", f"t{n}", None, 0.0))
    return service, backend


def ctx(account: str = ACCOUNT) -> RequestContext:
    return RequestContext("req", Principal.root(account, "AK"), "us-east-1", time.time())


def create(service: KMSService, n: int) -> str:
    found: str = service.dispatch(
        ctx(),
        "CreateCustomKeyStore",
        {
            "CustomKeyStoreName": f"store-{n}",
            "CloudHsmClusterId": f"cluster-openkmstest{'abcdefghijk'[n]}",
            "TrustAnchorCertificate": ANCHOR,
            "KeyStorePassword": "kmsuser-pin",
        },
    )["CustomKeyStoreId"]
    return found


def test_quota_paging_and_accounts(setup) -> None:
    service, _ = setup
    made = sorted(create(service, n) for n in range(10))
    with pytest.raises(LimitExceededException):
        create(service, 10)
    seen, marker = [], None
    while True:
        params: dict[str, object] = {"Limit": 4, **({"Marker": marker} if marker else {})}
        page = service.dispatch(ctx(), "DescribeCustomKeyStores", params)
        seen += [entry["CustomKeyStoreId"] for entry in page["CustomKeyStores"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert seen == made
    with pytest.raises(CustomKeyStoreNotFoundException):
        service.dispatch(
            ctx("444455556666"), "DescribeCustomKeyStores", {"CustomKeyStoreId": made[0]}
        )
    other = service.dispatch(ctx("444455556666"), "DescribeCustomKeyStores", {})
    assert other["CustomKeyStores"] == []
    with pytest.raises(ValidationException, match="XksProxyUriEndpoint"):
        service.dispatch(
            ctx(),
            "CreateCustomKeyStore",
            {"CustomKeyStoreName": "xks", "CustomKeyStoreType": "EXTERNAL_KEY_STORE"},
        )


def test_keys_through_the_seam(setup) -> None:
    service, backend = setup
    store_id = create(service, 0)
    backend.refuse = ConnectionErrorCode.USER_LOCKED_OUT
    service.dispatch(ctx(), "ConnectCustomKeyStore", {"CustomKeyStoreId": store_id})
    entry = service.dispatch(ctx(), "DescribeCustomKeyStores", {"CustomKeyStoreId": store_id})
    assert entry["CustomKeyStores"][0]["ConnectionErrorCode"] == "USER_LOCKED_OUT"
    service.dispatch(ctx(), "DisconnectCustomKeyStore", {"CustomKeyStoreId": store_id})
    backend.refuse = None
    service.dispatch(ctx(), "ConnectCustomKeyStore", {"CustomKeyStoreId": store_id})
    meta = service.dispatch(
        ctx(), "CreateKey", {"Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": store_id}
    )["KeyMetadata"]
    assert backend.keys == {f"{meta['KeyId']}/1"}
    plain = base64.b64encode(b"through the seam").decode()
    blob = service.dispatch(ctx(), "Encrypt", {"KeyId": meta["KeyId"], "Plaintext": plain})
    assert blob["CiphertextBlob"].endswith(b"maes eht hguorht")
    opened = service.dispatch(
        ctx(), "Decrypt", {"CiphertextBlob": base64.b64encode(blob["CiphertextBlob"]).decode()}
    )
    assert opened["Plaintext"] == b"through the seam"
    random = service.dispatch(
        ctx(), "GenerateRandom", {"NumberOfBytes": 4, "CustomKeyStoreId": store_id}
    )
    assert random["Plaintext"] == b"\x07" * 4
    service.dispatch(
        ctx(), "ScheduleKeyDeletion", {"KeyId": meta["KeyId"], "PendingWindowInDays": 7}
    )
    maintenance = Maintenance(service.store, service.keyring, key_stores=service.key_stores)
    report = maintenance.run(time.time() + 8 * 86_400)
    assert report.deleted == [meta["Arn"]] and backend.keys == set()


def test_a_disabled_key_of_a_disconnected_store_is_unavailable(setup) -> None:
    """AWS: keys of a disconnected custom key store read Unavailable (or PendingDeletion),
    Disabled ones too, and come back Disabled with the connection."""
    service, _ = setup
    store_id = create(service, 0)
    service.dispatch(ctx(), "ConnectCustomKeyStore", {"CustomKeyStoreId": store_id})
    key = service.dispatch(
        ctx(), "CreateKey", {"Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": store_id}
    )["KeyMetadata"]["KeyId"]
    service.dispatch(ctx(), "DisableKey", {"KeyId": key})
    encrypt = {"KeyId": key, "Plaintext": base64.b64encode(b"x").decode()}
    with pytest.raises(DisabledException):
        service.dispatch(ctx(), "Encrypt", encrypt)
    service.dispatch(ctx(), "DisconnectCustomKeyStore", {"CustomKeyStoreId": store_id})
    state = service.dispatch(ctx(), "DescribeKey", {"KeyId": key})["KeyMetadata"]["KeyState"]
    assert state == "Unavailable"
    for operation in ("Encrypt", "GenerateDataKey"):
        params = encrypt if operation == "Encrypt" else {"KeyId": key, "NumberOfBytes": 32}
        with pytest.raises(KMSInvalidStateException, match="unavailable"):
            service.dispatch(ctx(), operation, params)
    service.dispatch(ctx(), "ConnectCustomKeyStore", {"CustomKeyStoreId": store_id})
    with pytest.raises(DisabledException):
        service.dispatch(ctx(), "Encrypt", encrypt)


def test_a_failed_create_key_leaves_no_backing_key(setup, monkeypatch) -> None:
    """The backing key is made in the HSM before the key's row is written: when the
    transaction then fails, the backing key is destroyed again (no orphan in the token)."""
    service, backend = setup
    store_id = create(service, 0)
    service.dispatch(ctx(), "ConnectCustomKeyStore", {"CustomKeyStoreId": store_id})

    def refuse(*args: object) -> None:
        raise StorageError("the disk is full")

    monkeypatch.setattr(key_records, "insert_key", refuse)
    with pytest.raises(StorageError):
        service.dispatch(
            ctx(), "CreateKey", {"Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": store_id}
        )
    assert backend.keys == set()
    monkeypatch.undo()
    service.dispatch(ctx(), "CreateKey", {"Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": store_id})
    assert len(backend.keys) == 1


def test_the_cloudhsm_backend_checks_the_cluster_at_creation() -> None:
    """A cluster whose token cannot be reached is not active (the real PKCS#11 backend;
    its module here does not exist)."""
    service = KMSService(Store(make_engine("sqlite://")), SoftwareKeyring(new_root_key()))
    with service.store.transaction(write=True) as tx:
        cluster = HSMCluster("cluster-openkmstesta", "/nonexistent/libpkcs11.so", "t", None, 0.0)
        store_records.insert_cluster(tx, cluster)
    with pytest.raises(CloudHsmClusterNotActiveException, match="cluster-openkmstesta"):
        create(service, 0)
    assert service.dispatch(ctx(), "DescribeCustomKeyStores", {})["CustomKeyStores"] == []
