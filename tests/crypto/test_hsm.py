"""The PKCS#11 sealer (openkms.crypto.hsm) against SoftHSM2 in this process: formats,
bindings, the root key's attributes, start-up errors, and recovery from a dropped session
or a token taken away and put back; many threads at once without a crash."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))

from softhsm import PIN, SoftHSM

from openkms.crypto.hsm import (
    GCM,
    KEY_WRAP_PAD,
    LIBRARY_LOCK,
    HSMKeyMissingError,
    HSMLoginError,
    HSMRoot,
    HSMSealer,
    HSMStartError,
)
from openkms.crypto.keyring import (
    PKCS11,
    KeyringUnavailableError,
    SealedKeyring,
    UnwrapError,
    sealed_by,
)

TOKENS = ("unit-gcm", "unit-kwp", "unit-fault", "unit-dup", "unit-threads", "unit-shared")


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    """One SoftHSM configuration for this module, its tokens made before the module is
    (re)initialised in this process (SoftHSM reads its configuration at C_Initialize)."""
    found = SoftHSM.create(str(tmp_path_factory.mktemp("softhsm")))
    for label in TOKENS:
        found.init_token(label)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", found.conf)
        import pkcs11

        with LIBRARY_LOCK:
            pkcs11.lib(found.module).reinitialize()
        yield found


def sealer(hsm: SoftHSM, token: str, **kw: object) -> HSMSealer:
    kw.setdefault("create", True)
    return HSMSealer(HSMRoot(hsm.module, token, "root"), PIN, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("mechanism,token", [(GCM, "unit-gcm"), (KEY_WRAP_PAD, "unit-kwp")])
def test_seals_and_binds_the_context(hsm: SoftHSM, mechanism: str, token: str) -> None:
    s = sealer(hsm, token, mechanism=mechanism)
    try:
        secret = os.urandom(1500)
        wrapped = s.wrap(secret, b"owner-1")
        assert sealed_by(wrapped) == PKCS11
        assert secret not in wrapped
        assert s.unwrap(wrapped, b"owner-1") == secret
        assert s.wrap(secret, b"owner-1") != wrapped  # a fresh IV / nonce every time
        with pytest.raises(UnwrapError):
            s.unwrap(wrapped, b"owner-2")
        tampered = bytearray(wrapped)
        tampered[-5] ^= 1
        with pytest.raises(UnwrapError):
            s.unwrap(bytes(tampered), b"owner-1")
        with pytest.raises(UnwrapError):
            s.unwrap(b"W\x01" + wrapped[2:], b"owner-1")  # not an HSM format
        # The session still works after a refused value.
        assert s.unwrap(s.wrap(b"x", b"c"), b"c") == b"x"
    finally:
        s.close()


def test_the_root_key_is_made_once_and_never_leaves_the_token(hsm: SoftHSM) -> None:
    import pkcs11
    from pkcs11 import Attribute

    first = sealer(hsm, "unit-gcm")
    wrapped = first.wrap(b"kept", b"ctx")
    first.close()
    again = sealer(hsm, "unit-gcm", create=False)  # finds the same key
    try:
        assert again.unwrap(wrapped, b"ctx") == b"kept"
        key = again._key
        assert key is not None
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.VALUE_LEN] == 32
        assert key[Attribute.TOKEN] is True
        with pytest.raises(pkcs11.PKCS11Error):
            key[Attribute.VALUE]
    finally:
        again.close()


def test_start_errors_are_one_line_each(hsm: SoftHSM) -> None:
    with pytest.raises(HSMLoginError, match="wrong"):
        HSMSealer(HSMRoot(hsm.module, "unit-gcm", "root"), "9999", create=False)
    with pytest.raises(HSMStartError, match="cannot load the PKCS#11 module /nonexistent"):
        HSMSealer(HSMRoot("/nonexistent/libnothing.so", "t", "k"), PIN, create=False)
    with pytest.raises(HSMStartError, match="no PKCS#11 token labelled 'nope'"):
        HSMSealer(HSMRoot(hsm.module, "nope", "root"), PIN, create=False)
    with pytest.raises(HSMKeyMissingError, match="no key labelled 'absent'"):
        HSMSealer(HSMRoot(hsm.module, "unit-gcm", "absent"), PIN, create=False)


def test_a_label_on_two_keys_is_refused(hsm: SoftHSM) -> None:
    import pkcs11

    with LIBRARY_LOCK:
        token = pkcs11.lib(hsm.module).get_token(token_label="unit-dup")
        with token.open(rw=True, user_pin=PIN) as session:
            for _ in range(2):
                session.generate_key(pkcs11.KeyType.AES, 256, label="twice", store=True)
    with pytest.raises(HSMStartError, match="2 secret keys are labelled 'twice'"):
        HSMSealer(HSMRoot(hsm.module, "unit-dup", "twice"), PIN, create=False)


def test_a_dropped_session_is_reopened(hsm: SoftHSM) -> None:
    s = sealer(hsm, "unit-fault")
    try:
        wrapped = s.wrap(b"secret", b"ctx")
        assert s._session is not None
        with LIBRARY_LOCK:
            s._session.close()  # the token closed it behind our back
        assert s.unwrap(wrapped, b"ctx") == b"secret"
        assert s.wrap(b"more", b"ctx")
    finally:
        s.close()


def test_a_removed_token_fails_calls_then_recovers(
    hsm: SoftHSM, caplog: pytest.LogCaptureFixture
) -> None:
    s = sealer(hsm, "unit-fault")
    keyring = SealedKeyring(s, bytes(32))
    wrapped = keyring.wrap(b"secret", b"ctx")
    token_dir = hsm.token_dir("unit-fault")
    aside = os.path.join(os.path.dirname(hsm.tokens), "removed")  # outside the token dir
    shutil.move(token_dir, aside)
    try:
        with caplog.at_level(logging.ERROR, logger="openkms.hsm"):
            with pytest.raises(KeyringUnavailableError, match="the HSM is unavailable"):
                keyring.unwrap(wrapped, b"ctx")
            with pytest.raises(KeyringUnavailableError):
                keyring.wrap(b"new", b"ctx")
        lines = [r.getMessage() for r in caplog.records if r.name == "openkms.hsm"]
        assert lines and all("\n" not in line for line in lines)
        assert "HSM token 'unit-fault'" in lines[0]
    finally:
        shutil.move(aside, token_dir)
    # Back: the next call re-opens the module and the session, no new sealer needed.
    assert keyring.unwrap(wrapped, b"ctx") == b"secret"
    s.close()


def test_many_threads_through_one_module_do_not_crash(hsm: SoftHSM) -> None:
    s = sealer(hsm, "unit-threads")
    other = sealer(hsm, "unit-gcm")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(150):
                target = s if (n + i) % 2 else other
                context = f"t{n}-{i}".encode()
                secret = os.urandom(32)
                assert target.unwrap(target.wrap(secret, context), context) == secret
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s.close()
    other.close()
    assert errors == []


def test_a_key_that_can_leave_the_token_or_is_not_aes_256_is_refused(hsm: SoftHSM) -> None:
    import pkcs11
    from pkcs11 import Attribute

    with LIBRARY_LOCK:
        token = pkcs11.lib(hsm.module).get_token(token_label="unit-dup")
        with token.open(rw=True, user_pin=PIN) as session:
            session.generate_key(
                pkcs11.KeyType.AES,
                256,
                label="loose",
                store=True,
                template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False},
            )
            session.generate_key(pkcs11.KeyType.AES, 128, label="short", store=True)
    with pytest.raises(HSMStartError, match="'loose' can leave the token"):
        HSMSealer(HSMRoot(hsm.module, "unit-dup", "loose"), PIN, create=False)
    with pytest.raises(HSMStartError, match="'short' is not an AES-256 key"):
        HSMSealer(HSMRoot(hsm.module, "unit-dup", "short"), PIN, create=False)


def test_two_sealers_on_one_token_share_the_login(hsm: SoftHSM) -> None:
    """The second one finds the process logged in already; closing one logs the token
    out (PKCS#11 logins are per process), and the other logs in again on its next call."""
    first = sealer(hsm, "unit-shared")
    second = sealer(hsm, "unit-shared", create=False)
    try:
        wrapped = first.wrap(b"shared", b"ctx")
        assert second.unwrap(wrapped, b"ctx") == b"shared"
        first.close()
        assert second.unwrap(wrapped, b"ctx") == b"shared"
    finally:
        first.close()
        second.close()
