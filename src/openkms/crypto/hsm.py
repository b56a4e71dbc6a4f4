"""The root of trust in a PKCS#11 HSM: a :class:`~openkms.crypto.keyring.Sealer` whose
root key is a non-extractable AES-256 key that never leaves the token.

``openkms serve --root-of-trust pkcs11`` seals every stored secret here instead of under
a software root key. The HSM is not on every request's path: unwrapped key material is
cached in memory (:mod:`openkms.service.kms.materials`), so it is called on a cache miss,
on key creation and rotation, and for the few other sealed values.

Rules of the PKCS#11 library (python-pkcs11 calls ``C_Initialize`` itself; two threads
inside SoftHSM at once crashed it), kept here:

* every call into any PKCS#11 module goes through one process-wide lock
  (:data:`LIBRARY_LOCK`); the lock serialises the calls anyway, so each sealer keeps one
  logged-in session rather than a pool of sessions that could never run side by side;
* the session is re-opened when a call fails for any reason other than the data (the
  session was closed, the token removed and put back, the login lost): first a new
  session, then the module re-initialised (``C_Finalize``/``C_Initialize``, needed once a
  token has gone away). While that fails the call raises
  :class:`~openkms.crypto.keyring.KeyringUnavailableError` and logs one line; the next
  call tries again, so the server recovers without a restart;
* a GCM tag failure comes back as ``CKR_GENERAL_ERROR`` from SoftHSM, which a broken
  session can also return: before an unwrap is called a bad value
  (:class:`~openkms.crypto.keyring.UnwrapError`) the token is probed with a small
  encryption, and only a working token turns the failure into that verdict;
* labels are not unique: a label naming more than one secret key is refused at start.

Formats (AAD and payload bind the caller's context, as the software keyring's do):

* ``H 0x01 | IV (12) | AES-256-GCM(secret) || tag`` with AAD ``H 0x01 || context``, the
  IV from the operating system's random source;
* ``H 0x02 | CKM_AES_KEY_WRAP_PAD(len (4) || nonce (16) || SHA-256(H 0x02 || context) ||
  secret)``, for tokens that do not offer AES-GCM: the payload enters the token as a
  session object, is wrapped by ``C_WrapKey`` and the object destroyed (RFC 5649
  authenticates the payload but is deterministic, hence the random nonce; the length is
  kept because SoftHSM returns the padding with the value).

Start-up problems are :class:`HSMStartError` (one line each; the subclasses say which
kind, for the exit status).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openkms.crypto.keyring import KeyringUnavailableError, UnwrapError

if TYPE_CHECKING:
    from pkcs11 import Session, Token

#: A secret key object (python-pkcs11 adds its encrypt/wrap methods at run time, so its
#: type names none of them).
_Key = Any

log = logging.getLogger("openkms.hsm")

#: Every call into a PKCS#11 module, from any thread of this process, holds this lock.
LIBRARY_LOCK = threading.RLock()

PIN_ENV = "OPENKMS_PKCS11_PIN"
GCM, KEY_WRAP_PAD = "AES_GCM", "AES_KEY_WRAP_PAD"
_GCM_PREFIX = b"H\x01"
_KWP_PREFIX = b"H\x02"
_IV_LEN, _TAG_LEN = 12, 16
_INSTALL_HINT = "pip install 'openkms[hsm]' (python-pkcs11)"


class HSMStartError(Exception):
    """The HSM cannot be used as configured; the message says why in one line."""


class HSMLoginError(HSMStartError):
    """The PIN is missing, wrong or locked."""


class HSMKeyMissingError(HSMStartError):
    """No root key with the label on the token, and none may be created here."""


@dataclass(frozen=True)
class HSMRoot:
    """Where the root key is: a PKCS#11 module (shared library), a token label and a key
    label. The PIN is not part of it: it comes from ``OPENKMS_PKCS11_PIN`` only."""

    module: str
    token: str
    key: str


def pin_from_environment() -> str:
    pin = os.environ.get(PIN_ENV)
    if not pin:
        raise HSMLoginError(f"set {PIN_ENV} to the PKCS#11 token's user PIN")
    return pin


class HSMSealer:
    """Seals under the HSM's root key (see the module docstring). Thread-safe: every
    call holds :data:`LIBRARY_LOCK`."""

    def __init__(
        self, root: HSMRoot, pin: str, *, create: bool, mechanism: str | None = None
    ) -> None:
        """Open a session and find the root key (generated in the token when ``create``
        and absent); ``mechanism`` forces GCM or KEY_WRAP_PAD (default: GCM if offered).
        Raises :class:`HSMStartError`."""
        try:
            import pkcs11
        except ImportError:
            raise HSMStartError(f"the pkcs11 root of trust needs {_INSTALL_HINT}") from None
        self._pkcs11: Any = pkcs11
        self.root = root
        self._pin = pin
        self._session: Session | None = None
        self._key: _Key | None = None
        with LIBRARY_LOCK:
            try:
                self._lib = pkcs11.lib(root.module)
            except pkcs11.PKCS11Error as exc:
                why = str(exc).rpartition(f"{root.module}: ")[2] or pkcs11_reason(exc)
                raise HSMStartError(
                    f"cannot load the PKCS#11 module {root.module}: {why}"
                ) from None
            token = self._token()
            self.mechanism = mechanism or self._choose_mechanism(token)
            self._open(token, create=create)

    # -- opening ---------------------------------------------------------------------
    def _token(self) -> Token:
        pkcs11 = self._pkcs11
        try:
            token: Token = self._lib.get_token(token_label=self.root.token)
        except pkcs11.NoSuchToken:
            raise HSMStartError(
                f"no PKCS#11 token labelled {self.root.token!r} in {self.root.module}"
            ) from None
        except pkcs11.MultipleTokensReturned:
            raise HSMStartError(
                f"more than one PKCS#11 token is labelled {self.root.token!r}"
            ) from None
        except pkcs11.PKCS11Error as exc:
            raise HSMStartError(
                f"cannot list the tokens of {self.root.module}: {pkcs11_reason(exc)}"
            ) from None
        return token

    def _choose_mechanism(self, token: Token) -> str:
        offered = set(token.slot.get_mechanisms())
        mech = self._pkcs11.Mechanism
        if mech.AES_GCM in offered:
            return GCM
        if mech.AES_KEY_WRAP_PAD in offered:
            return KEY_WRAP_PAD
        raise HSMStartError(
            f"token {self.root.token!r} offers neither CKM_AES_GCM nor CKM_AES_KEY_WRAP_PAD"
        )

    def _open(self, token: Token, *, create: bool) -> None:
        pkcs11 = self._pkcs11
        try:
            session = token.open(rw=True, user_pin=self._pin)
        except pkcs11.UserAlreadyLoggedIn:  # another sealer of this process logged in
            session = token.open(rw=True)
        except (pkcs11.PinIncorrect, pkcs11.PinLenRange):
            raise HSMLoginError(
                f"the PIN in {PIN_ENV} is wrong for PKCS#11 token {self.root.token!r}"
            ) from None
        except pkcs11.PinLocked:
            raise HSMLoginError(f"the PIN of PKCS#11 token {self.root.token!r} is locked") from None
        except pkcs11.PKCS11Error as exc:
            raise HSMStartError(
                f"cannot log in to PKCS#11 token {self.root.token!r}: {pkcs11_reason(exc)}"
            ) from None
        try:
            self._key = self._find_key(session, create=create)
        except BaseException:
            close_quietly(session)
            raise
        self._session = session

    def _find_key(self, session: Session, *, create: bool) -> _Key:
        pkcs11 = self._pkcs11
        a = pkcs11.Attribute
        label = self.root.key
        found: list[Any] = list(
            session.get_objects({a.CLASS: pkcs11.ObjectClass.SECRET_KEY, a.LABEL: label})
        )
        if len(found) > 1:
            raise HSMStartError(
                f"{len(found)} secret keys are labelled {label!r} on token "
                f"{self.root.token!r}: the root key's label must be unique"
            )
        if not found:
            if not create:
                raise HSMKeyMissingError(
                    f"no key labelled {label!r} on PKCS#11 token {self.root.token!r}"
                )
            log.info("generating the root key %r in PKCS#11 token %r", label, self.root.token)
            return generate_aes_256(session, label, wrap=True)
        key = found[0]
        if key[a.KEY_TYPE] != pkcs11.KeyType.AES or key[a.VALUE_LEN] != 32:
            raise HSMStartError(f"the key labelled {label!r} is not an AES-256 key")
        if key[a.EXTRACTABLE] or not key[a.SENSITIVE]:
            raise HSMStartError(
                f"the key labelled {label!r} can leave the token (CKA_EXTRACTABLE or not "
                "CKA_SENSITIVE): the root key must be non-extractable"
            )
        return key

    # -- calls -----------------------------------------------------------------------
    def _call(self, operation: Callable[[_Key], bytes], *, unsealing: bool) -> bytes:
        """Run ``operation`` on the root key, re-opening the session (then the module)
        when it fails for a reason other than the data."""
        pkcs11 = self._pkcs11
        fault: BaseException | None = None
        with LIBRARY_LOCK:
            for attempt in range(3):
                try:
                    return operation(self._current_key(reinitialize=attempt == 2))
                except HSMStartError as exc:
                    fault = exc
                except pkcs11.PKCS11Error as exc:
                    if unsealing and isinstance(exc, data_errors(pkcs11)) and self._healthy():
                        raise UnwrapError("wrapped secret failed authentication") from None
                    fault = exc
                self._drop()
        reason = str(fault) if isinstance(fault, HSMStartError) else pkcs11_reason(fault)
        log.error(
            "HSM token %r (%s) unavailable: %s; retried on the next call",
            self.root.token,
            self.root.module,
            reason,
        )
        raise KeyringUnavailableError(f"the HSM is unavailable: {reason}")

    def _current_key(self, *, reinitialize: bool) -> _Key:
        if self._key is None:
            if reinitialize:
                self._lib.reinitialize()
            self._open(self._token(), create=False)
        assert self._key is not None
        return self._key

    def _healthy(self) -> bool:
        """Whether the open session still encrypts (a data error is then the data's)."""
        pkcs11 = self._pkcs11
        try:
            if self.mechanism == GCM:
                self._gcm_encrypt(b"probe", b"probe")
            else:
                self._kwp_encrypt(b"probe", b"probe")
        except pkcs11.PKCS11Error:
            return False
        return True

    def _drop(self) -> None:
        session, self._session, self._key = self._session, None, None
        if session is not None:
            close_quietly(session)

    def close(self) -> None:
        with LIBRARY_LOCK:
            self._drop()

    # -- formats ---------------------------------------------------------------------
    def wrap(self, secret: bytes, context: bytes) -> bytes:
        if self.mechanism == GCM:
            return self._call(lambda key: self._gcm_seal(key, secret, context), unsealing=False)
        return self._call(lambda key: self._kwp_seal(key, secret, context), unsealing=False)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        prefix = wrapped[:2]
        if prefix == _GCM_PREFIX and len(wrapped) >= 2 + _IV_LEN + _TAG_LEN:
            return self._call(lambda key: self._gcm_open(key, wrapped, context), unsealing=True)
        if prefix == _KWP_PREFIX and len(wrapped) >= 2 + 16:
            return self._call(lambda key: self._kwp_open(key, wrapped, context), unsealing=True)
        raise UnwrapError("unknown wrapped-secret format")

    def _gcm_encrypt(self, secret: bytes, context: bytes) -> bytes:
        assert self._key is not None
        return self._gcm_seal(self._key, secret, context)

    def _kwp_encrypt(self, secret: bytes, context: bytes) -> bytes:
        assert self._key is not None
        return self._kwp_seal(self._key, secret, context)

    def _gcm_seal(self, key: _Key, secret: bytes, context: bytes) -> bytes:
        iv = os.urandom(_IV_LEN)
        params = self._pkcs11.mechanisms.GCMParams(iv, _GCM_PREFIX + context)
        sealed: bytes = key.encrypt(
            secret, mechanism=self._pkcs11.Mechanism.AES_GCM, mechanism_param=params
        )
        return _GCM_PREFIX + iv + sealed

    def _gcm_open(self, key: _Key, wrapped: bytes, context: bytes) -> bytes:
        iv = wrapped[2 : 2 + _IV_LEN]
        params = self._pkcs11.mechanisms.GCMParams(iv, _GCM_PREFIX + context)
        plain: bytes = key.decrypt(
            wrapped[2 + _IV_LEN :],
            mechanism=self._pkcs11.Mechanism.AES_GCM,
            mechanism_param=params,
        )
        return plain

    def _kwp_seal(self, key: _Key, secret: bytes, context: bytes) -> bytes:
        pkcs11 = self._pkcs11
        a = pkcs11.Attribute
        payload = len(secret).to_bytes(4, "big") + os.urandom(16) + _bound(context) + secret
        assert self._session is not None
        carrier = self._session.create_object(
            {
                a.CLASS: pkcs11.ObjectClass.SECRET_KEY,
                a.KEY_TYPE: pkcs11.KeyType.GENERIC_SECRET,
                a.VALUE: payload,
                a.TOKEN: False,
                a.EXTRACTABLE: True,
                a.SENSITIVE: False,
            }
        )
        try:
            sealed: bytes = key.wrap_key(carrier, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)
        finally:
            carrier.destroy()
        return _KWP_PREFIX + sealed

    def _kwp_open(self, key: _Key, wrapped: bytes, context: bytes) -> bytes:
        pkcs11 = self._pkcs11
        a = pkcs11.Attribute
        carrier = key.unwrap_key(
            pkcs11.ObjectClass.SECRET_KEY,
            pkcs11.KeyType.GENERIC_SECRET,
            wrapped[2:],
            mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD,
            store=False,
            template={a.EXTRACTABLE: True, a.SENSITIVE: False},
        )
        try:
            payload: bytes = carrier[a.VALUE]
        finally:
            carrier.destroy()
        size = int.from_bytes(payload[:4], "big")
        if len(payload) < 52 + size or not hmac.compare_digest(payload[20:52], _bound(context)):
            raise UnwrapError("wrapped secret failed authentication")
        return payload[52 : 52 + size]


def _bound(context: bytes) -> bytes:
    return hashlib.sha256(_KWP_PREFIX + context).digest()


def data_errors(pkcs11: Any) -> tuple[type[BaseException], ...]:
    """The failures an unwrap of a bad value returns (SoftHSM: CKR_GENERAL_ERROR for a
    GCM tag mismatch and a failed RFC 5649 check)."""
    return (
        pkcs11.GeneralError,
        pkcs11.FunctionFailed,
        pkcs11.EncryptedDataInvalid,
        pkcs11.EncryptedDataLenRange,
        pkcs11.WrappedKeyInvalid,
        pkcs11.WrappedKeyLenRange,
    )


def pkcs11_reason(exc: BaseException | None) -> str:
    """A PKCS#11 failure in a few words: its class name (CKR_... as python-pkcs11 names
    it) and its message if any."""
    if exc is None:
        return "unknown failure"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def generate_aes_256(session: Session, label: str, *, wrap: bool) -> _Key:
    """A new AES-256 key labelled ``label``, kept in the token, private, sensitive and
    non-extractable; it may wrap and unwrap other keys only when ``wrap`` (the root key;
    a key store's keys only encrypt and decrypt)."""
    import pkcs11

    a = pkcs11.Attribute
    key: _Key = session.generate_key(
        pkcs11.KeyType.AES,
        256,
        label=label,
        store=True,
        template={
            a.TOKEN: True,
            a.PRIVATE: True,
            a.SENSITIVE: True,
            a.EXTRACTABLE: False,
            a.ENCRYPT: True,
            a.DECRYPT: True,
            a.WRAP: wrap,
            a.UNWRAP: wrap,
        },
    )
    return key


def close_quietly(session: Session) -> None:
    import pkcs11

    try:
        session.close()
    except pkcs11.PKCS11Error:
        pass  # already closed by the token or the module
