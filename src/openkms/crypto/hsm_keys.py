"""KMS keys whose backing key lives in a PKCS#11 token (AWS_CLOUDHSM custom key stores):
a logged-in session on the token, and the symmetric ciphertexts made inside it.

Each KMS key version's backing key is a non-extractable AES-256 key generated in the
token (``CKA_TOKEN``, ``CKA_SENSITIVE``, not ``CKA_EXTRACTABLE``), labelled with the KMS
key id and version (:func:`openkms.domain.custom_key_stores.hsm_key_label`). Encryption
and decryption run inside the token: AES-256-GCM under that key with a random 96-bit IV
and, as AAD, the blob's header and the canonical encryption context, in the same blob
layout as every symmetric ciphertext (:mod:`openkms.domain.ciphertext`; the header's
nonce is unused by the token but authenticated with the header). A key is used directly,
not through a per-message derived key as the software keys are (PKCS#11 tokens offer no
common KDF): random IVs keep a key far below GCM's limit for billions of messages.

The rules of :mod:`openkms.crypto.hsm` hold here too: every call into the module holds
:data:`~openkms.crypto.hsm.LIBRARY_LOCK`; a call that fails for a reason other than the
data re-opens the session (then re-initialises the module) and otherwise raises
:class:`HSMKeysUnavailableError` with one log line, so the next call recovers; a GCM tag
failure (``CKR_GENERAL_ERROR`` from SoftHSM) is the data's only when the token still
works (:class:`HSMDataError`).

Logging in (:class:`HSMKeyToken`) maps each PKCS#11 failure to the ConnectionErrorCode AWS
reports for a CloudHSM cluster (:class:`TokenConnectError`): a module that cannot be
loaded is NETWORK_ERRORS (the HSM cannot be reached), a token label not present
INSUFFICIENT_CLOUDHSM_HSMS (no active HSM), a wrong PIN INVALID_CREDENTIALS, a locked one
USER_LOCKED_OUT, a token whose user PIN was never set USER_NOT_FOUND (no ``kmsuser``),
the security officer logged in, or another session of this process (the root of trust
on the same token), USER_LOGGED_IN; anything else INTERNAL_ERROR.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from openkms.crypto.hsm import (
    LIBRARY_LOCK,
    close_quietly,
    data_errors,
    generate_aes_256,
    pkcs11_reason,
)
from openkms.crypto.randomness import random_bytes
from openkms.domain import ciphertext as fmt
from openkms.domain.custom_key_stores import ConnectionErrorCode

if TYPE_CHECKING:
    from pkcs11 import Session

log = logging.getLogger("openkms.hsm")

_Key = Any
_T = TypeVar("_T")


class HSMKeysError(Exception):
    """A key store token's failure (the subclasses say which)."""


class TokenConnectError(HSMKeysError):
    """Logging in to the token failed; ``code`` is the ConnectionErrorCode to report."""

    def __init__(self, code: ConnectionErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class TokenConfigurationError(HSMKeysError):
    """The token lacks a mechanism the keys need (AES key generation, AES-GCM)."""


class HSMKeysUnavailableError(HSMKeysError):
    """The token cannot be used now (retried on the next call)."""


class HSMKeyNotFoundError(HSMKeysError):
    """No backing key with the label in the token."""


class HSMDataError(HSMKeysError):
    """The ciphertext failed authentication in a working token."""


class HSMKeyToken:
    """A logged-in session on one token, for the backing keys of one custom key store.
    Thread-safe: every call holds :data:`~openkms.crypto.hsm.LIBRARY_LOCK`."""

    def __init__(self, module: str, token: str, pin: str) -> None:
        """Log in; raises :class:`TokenConnectError`."""
        try:
            import pkcs11
        except ImportError:
            raise TokenConnectError(
                ConnectionErrorCode.INTERNAL_ERROR,
                "AWS_CLOUDHSM key stores need pip install 'openkms[hsm]' (python-pkcs11)",
            ) from None
        self._pkcs11: Any = pkcs11
        self.module, self.token = module, token
        self._pin = pin
        self._session: Session | None = None
        self._keys: dict[str, _Key] = {}
        with LIBRARY_LOCK:
            try:
                self._lib = pkcs11.lib(module)
            except pkcs11.PKCS11Error as exc:
                raise TokenConnectError(
                    ConnectionErrorCode.NETWORK_ERRORS,
                    f"cannot load the PKCS#11 module {module}: {pkcs11_reason(exc)}",
                ) from None
            self._session = self._login(first=True)

    def _login(self, *, first: bool = False) -> Session:
        pkcs11 = self._pkcs11
        code = ConnectionErrorCode
        try:
            token = self._lib.get_token(token_label=self.token)
        except pkcs11.NoSuchToken:
            raise TokenConnectError(
                code.INSUFFICIENT_CLOUDHSM_HSMS, f"no PKCS#11 token labelled {self.token!r}"
            ) from None
        except pkcs11.PKCS11Error as exc:
            raise TokenConnectError(
                code.INTERNAL_ERROR, f"cannot find token {self.token!r}: {pkcs11_reason(exc)}"
            ) from None
        failures: Mapping[type[BaseException], ConnectionErrorCode] = {
            pkcs11.PinIncorrect: code.INVALID_CREDENTIALS,
            pkcs11.PinLenRange: code.INVALID_CREDENTIALS,
            pkcs11.PinLocked: code.USER_LOCKED_OUT,
            pkcs11.UserPinNotInitialized: code.USER_NOT_FOUND,
            pkcs11.AnotherUserAlreadyLoggedIn: code.USER_LOGGED_IN,
        }
        try:
            session: Session = token.open(rw=True, user_pin=self._pin)
        except pkcs11.UserAlreadyLoggedIn:
            # Login is per token and process, and a login over another answers "already
            # logged in" whatever the PIN. A first login finding one is refused (the token
            # is the root of trust's, or another store's: the PIN would go unchecked); a
            # session re-opened after a fault has had its PIN checked already.
            if first:
                raise TokenConnectError(
                    code.USER_LOGGED_IN,
                    f"another session of this process is logged in to PKCS#11 token "
                    f"{self.token!r} (the root of trust's token, or another key store's)",
                ) from None
            session = token.open(rw=True)
        except pkcs11.PKCS11Error as exc:
            found = next((c for kind, c in failures.items() if isinstance(exc, kind)), None)
            raise TokenConnectError(
                found or code.INTERNAL_ERROR,
                f"cannot log in to PKCS#11 token {self.token!r}: {pkcs11_reason(exc)}",
            ) from None
        return session

    # -- calls -----------------------------------------------------------------------
    def _call(self, operation: Callable[[Session], _T], *, decrypting: bool = False) -> _T:
        pkcs11 = self._pkcs11
        fault: BaseException | None = None
        with LIBRARY_LOCK:
            for attempt in range(3):
                try:
                    return operation(self._current(reinitialize=attempt == 2))
                except (HSMKeyNotFoundError, HSMDataError):
                    raise
                except TokenConnectError as exc:
                    fault = exc
                except pkcs11.PKCS11Error as exc:
                    if decrypting and isinstance(exc, data_errors(pkcs11)) and self._healthy():
                        raise HSMDataError("ciphertext failed authentication") from None
                    fault = exc
                self._drop()
        reason = str(fault) if isinstance(fault, TokenConnectError) else pkcs11_reason(fault)
        log.error(
            "key store token %r (%s) unavailable: %s; retried on the next call",
            self.token,
            self.module,
            reason,
        )
        raise HSMKeysUnavailableError(f"the key store's HSM is unavailable: {reason}")

    def _current(self, *, reinitialize: bool) -> Session:
        if self._session is None:
            if reinitialize:
                self._lib.reinitialize()
            self._session = self._login()
        return self._session

    def _healthy(self) -> bool:
        try:
            assert self._session is not None
            self._session.generate_random(64)
        except self._pkcs11.PKCS11Error:
            return False
        return True

    def _drop(self) -> None:
        session, self._session = self._session, None
        self._keys.clear()
        if session is not None:
            close_quietly(session)

    def close(self) -> None:
        with LIBRARY_LOCK:
            self._drop()

    def _key(self, session: Session, label: str) -> _Key:
        found = self._keys.get(label)
        if found is None:
            pkcs11 = self._pkcs11
            a = pkcs11.Attribute
            keys = list(
                session.get_objects({a.CLASS: pkcs11.ObjectClass.SECRET_KEY, a.LABEL: label})
            )
            if len(keys) != 1:
                raise HSMKeyNotFoundError(f"{len(keys)} keys labelled {label!r} in the token")
            found = self._keys[label] = keys[0]
        return found

    # -- operations ------------------------------------------------------------------
    def generate_key(self, label: str) -> None:
        """A new non-extractable AES-256 key labelled ``label``, kept in the token."""

        def generate(session: Session) -> None:
            self._keys[label] = generate_aes_256(session, label, wrap=False)

        self._call(generate)

    def encrypt(self, label: str, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """AES-256-GCM inside the token: ciphertext || tag."""

        def encrypt(session: Session) -> bytes:
            params = self._pkcs11.mechanisms.GCMParams(iv, aad)
            sealed: bytes = self._key(session, label).encrypt(
                plaintext, mechanism=self._pkcs11.Mechanism.AES_GCM, mechanism_param=params
            )
            return sealed

        return self._call(encrypt)

    def decrypt(self, label: str, iv: bytes, sealed: bytes, aad: bytes) -> bytes:
        def decrypt(session: Session) -> bytes:
            params = self._pkcs11.mechanisms.GCMParams(iv, aad)
            plain: bytes = self._key(session, label).decrypt(
                sealed, mechanism=self._pkcs11.Mechanism.AES_GCM, mechanism_param=params
            )
            return plain

        return self._call(decrypt, decrypting=True)

    def destroy(self, label: str) -> int:
        """Destroy every key labelled ``label``; how many there were."""

        def destroy(session: Session) -> int:
            pkcs11 = self._pkcs11
            a = pkcs11.Attribute
            found = list(
                session.get_objects({a.CLASS: pkcs11.ObjectClass.SECRET_KEY, a.LABEL: label})
            )
            for key in found:
                key.destroy()
            self._keys.pop(label, None)
            return len(found)

        return self._call(destroy)

    def random(self, count: int) -> bytes:
        """``count`` bytes from the token's random number generator."""
        return self._call(lambda session: bytes(session.generate_random(count * 8)))


def seal(
    token: HSMKeyToken,
    label: str,
    key_id: str,
    key_version: int,
    plaintext: bytes,
    context: Mapping[str, str] | None,
) -> bytes:
    """A symmetric ciphertext blob made inside the token under the key ``label``."""
    nonce, iv = random_bytes(fmt.NONCE_LEN), random_bytes(fmt.IV_LEN)
    header = fmt.build_header(key_id, key_version, nonce, iv)
    return header + token.encrypt(label, iv, plaintext, header + fmt.encode_context(context))


def open_sealed(
    token: HSMKeyToken,
    label: str,
    parsed: fmt.ParsedCiphertext,
    context: Mapping[str, str] | None,
) -> bytes:
    """Open a parsed blob inside the token; raises :class:`HSMDataError` when it fails
    authentication."""
    aad = parsed.header + fmt.encode_context(context)
    return token.decrypt(label, parsed.iv, parsed.sealed, aad)


def check_token(module: str, token: str) -> None:
    """That the module loads and offers a token with this label (no login) able to make
    and use the keys (CKM_AES_KEY_GEN, CKM_AES_GCM): what registering a cluster and
    creating a store check. Raises :class:`TokenConnectError` or
    :class:`TokenConfigurationError`."""
    try:
        import pkcs11
    except ImportError:
        raise TokenConnectError(
            ConnectionErrorCode.INTERNAL_ERROR,
            "AWS_CLOUDHSM key stores need pip install 'openkms[hsm]' (python-pkcs11)",
        ) from None
    with LIBRARY_LOCK:
        try:
            lib = pkcs11.lib(module)
        except pkcs11.PKCS11Error as exc:
            raise TokenConnectError(
                ConnectionErrorCode.NETWORK_ERRORS,
                f"cannot load the PKCS#11 module {module}: {pkcs11_reason(exc)}",
            ) from None
        try:
            found = lib.get_token(token_label=token)
            offered = set(found.slot.get_mechanisms())
        except pkcs11.NoSuchToken:
            raise TokenConnectError(
                ConnectionErrorCode.INSUFFICIENT_CLOUDHSM_HSMS,
                f"no PKCS#11 token labelled {token!r} in {module}",
            ) from None
        except pkcs11.MultipleTokensReturned:
            raise TokenConnectError(
                ConnectionErrorCode.INTERNAL_ERROR,
                f"more than one PKCS#11 token is labelled {token!r}",
            ) from None
        except pkcs11.PKCS11Error as exc:
            raise TokenConnectError(
                ConnectionErrorCode.INTERNAL_ERROR,
                f"cannot find token {token!r}: {pkcs11_reason(exc)}",
            ) from None
    needed = {pkcs11.Mechanism.AES_KEY_GEN, pkcs11.Mechanism.AES_GCM}
    if not needed <= offered:
        missing = ", ".join(sorted(f"CKM_{m.name}" for m in needed - offered))
        raise TokenConfigurationError(f"token {token!r} does not offer {missing}")
