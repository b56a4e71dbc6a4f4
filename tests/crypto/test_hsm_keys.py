"""Key store tokens (openkms.crypto.hsm_keys, openkms.crypto.key_stores) against SoftHSM2
in this process: each login failure's ConnectionErrorCode, backing keys that never leave
the token, ciphertexts made and opened inside it, recovery from a dropped session, and
many threads on one token (and another token's session beside it) without a crash."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))

from softhsm import SoftHSM

from openkms.crypto.hsm import LIBRARY_LOCK
from openkms.crypto.hsm_keys import (
    HSMDataError,
    HSMKeyNotFoundError,
    HSMKeysUnavailableError,
    HSMKeyToken,
    TokenConnectError,
    check_token,
)
from openkms.crypto.key_stores import BackingKey, CloudHSMBackend, StoreTarget
from openkms.domain import ciphertext
from openkms.domain.custom_key_stores import (
    ConnectionErrorCode,
    ConnectionState,
    CustomKeyStore,
    CustomKeyStoreType,
    HSMCluster,
)

PIN = "12345678"
KEY_1, KEY_2, KEY_3 = (str(uuid.uuid4()) for _ in range(3))
TOKENS = ("keys-a", "keys-b")


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    found = SoftHSM.create(str(tmp_path_factory.mktemp("softhsm-keys")))
    for label in TOKENS:
        found.init_token(label, PIN)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", found.conf)
        import pkcs11

        with LIBRARY_LOCK:
            pkcs11.lib(found.module).reinitialize()
        yield found


def test_login_failures_map_to_connection_error_codes(hsm: SoftHSM) -> None:
    cases = [
        (hsm.module, "keys-a", "wrong-pin", ConnectionErrorCode.INVALID_CREDENTIALS),
        (hsm.module, "absent", PIN, ConnectionErrorCode.INSUFFICIENT_CLOUDHSM_HSMS),
        ("/nonexistent/libpkcs11.so", "keys-a", PIN, ConnectionErrorCode.NETWORK_ERRORS),
    ]
    for module, token, pin, code in cases:
        with pytest.raises(TokenConnectError) as caught:
            HSMKeyToken(module, token, pin)
        assert caught.value.code is code, caught.value
    with pytest.raises(TokenConnectError) as missing:
        check_token(hsm.module, "absent")
    assert missing.value.code is ConnectionErrorCode.INSUFFICIENT_CLOUDHSM_HSMS
    check_token(hsm.module, "keys-a")
    # A second login to a token this process is logged in to would not check the PIN.
    first = HSMKeyToken(hsm.module, "keys-a", PIN)
    try:
        with pytest.raises(TokenConnectError) as twice:
            HSMKeyToken(hsm.module, "keys-a", "any-pin")
        assert twice.value.code is ConnectionErrorCode.USER_LOGGED_IN
    finally:
        first.close()


def test_backing_keys_stay_in_the_token(hsm: SoftHSM) -> None:
    import pkcs11

    token = HSMKeyToken(hsm.module, "keys-a", PIN)
    try:
        token.generate_key(f"{KEY_1}/1")
        backend_key = token._key(token._current(reinitialize=False), f"{KEY_1}/1")
        a = pkcs11.Attribute
        assert backend_key[a.EXTRACTABLE] is False and backend_key[a.SENSITIVE] is True
        assert backend_key[a.TOKEN] is True and backend_key[a.VALUE_LEN] == 32
        from openkms.crypto.hsm_keys import open_sealed, seal

        blob = seal(token, f"{KEY_1}/1", KEY_1, 1, b"plain", {"a": "b"})
        parsed = ciphertext.parse(blob)
        assert parsed.key_id == KEY_1 and parsed.key_version == 1
        assert open_sealed(token, f"{KEY_1}/1", parsed, {"a": "b"}) == b"plain"
        with pytest.raises(HSMDataError):
            open_sealed(token, f"{KEY_1}/1", parsed, {"a": "c"})
        # A dropped session is re-opened by the next call.
        session = token._session
        assert session is not None
        session.close()
        assert open_sealed(token, f"{KEY_1}/1", parsed, {"a": "b"}) == b"plain"
        assert len(token.random(40)) == 40
        assert token.destroy(f"{KEY_1}/1") == 1
        with pytest.raises(HSMKeyNotFoundError):
            seal(token, f"{KEY_1}/1", KEY_1, 1, b"plain", None)
    finally:
        token.close()


def _store(store_id: str, sealed: bytes) -> CustomKeyStore:
    return CustomKeyStore(
        store_id,
        "111122223333",
        "us-east-1",
        store_id,
        CustomKeyStoreType.AWS_CLOUDHSM,
        ConnectionState.CONNECTED,
        0.0,
        cluster_id="cluster-openkmsaaaaa",
        sealed_password=sealed,
    )


def test_the_cloudhsm_backend_and_many_threads(hsm: SoftHSM) -> None:
    backend = CloudHSMBackend()
    cluster = HSMCluster("cluster-openkmsaaaaa", hsm.module, "keys-a", None, 0.0)
    other = HSMCluster("cluster-openkmsbbbbb", hsm.module, "keys-b", None, 0.0)
    target = StoreTarget(_store("cks-a", b"v1"), cluster, lambda: PIN.encode())
    beside = StoreTarget(_store("cks-b", b"v1"), other, lambda: PIN.encode())
    gone = StoreTarget(_store("cks-c", b"v1"), None, lambda: PIN.encode())
    wrong = StoreTarget(_store("cks-a", b"v2"), cluster, lambda: b"wrong-pin")
    try:
        assert backend.connect(gone) is ConnectionErrorCode.CLUSTER_NOT_FOUND
        assert backend.connect(target) is None and backend.connect(beside) is None
        backend.new_key(target, BackingKey(KEY_2), 1)
        backend.new_key(beside, BackingKey(KEY_3), 1)
        failures: list[BaseException] = []

        def work(where: StoreTarget, key_id: str, n: int) -> None:
            try:
                for i in range(40):
                    plain = f"{n}:{i}".encode()
                    blob = backend.encrypt(where, BackingKey(key_id), 1, plain, {"n": str(n)})
                    parsed = ciphertext.parse(blob)
                    assert (
                        backend.decrypt(where, BackingKey(key_id), parsed, {"n": str(n)}) == plain
                    )
                    if i % 10 == 0:
                        assert len(backend.random(where, 16)) == 16
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(target, KEY_2, n)) for n in range(6)] + [
            threading.Thread(target=work, args=(beside, KEY_3, n)) for n in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        # A changed password re-opens the session with it (and fails here).
        with pytest.raises(HSMKeysUnavailableError):
            backend.random(wrong, 8)
        assert backend.destroy(target, KEY_2, 1) == 1
        backend.disconnect("cks-a")
    finally:
        backend.close()
