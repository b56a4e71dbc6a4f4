"""Which root of trust seals this database's secrets, and opening a PKCS#11 HSM as one.

``--root-of-trust software`` (the default) is the root key of :mod:`openkms.server.bootstrap`
(``OPENKMS_ROOT_KEY``, ``OPENKMS_ROOT_PASSPHRASE`` or ``root.key``). ``--root-of-trust
pkcs11`` is an AES-256 key in a PKCS#11 token (``--pkcs11-module``, ``--pkcs11-token``,
``--pkcs11-key``; the PIN from ``OPENKMS_PKCS11_PIN`` only, never an option: options show
in ``ps``), generated in the token on the first start of a new database
(:mod:`openkms.crypto.hsm`).

Settings in ``openkms_meta`` kept here:

* ``fingerprint_key``: the key of the keyring's fingerprints (imported key material ids,
  which callers see), sealed by the root. A database that began with a software root has
  none until its first rewrap (its fingerprint key is derived from the root key); every
  other keeps it here, so that moving the root changes no fingerprint;
* ``rewrap_to`` and ``root_check_pending``: an ``openkms admin rewrap`` under way (the
  root it moves to, and that root's check value); a server refuses to start until the
  rewrap has finished, since the database then holds values of both roots.

Problems are the bootstrap's :class:`~openkms.server.bootstrap.StartupError` kinds, one
line each: a wrong PIN or a key that does not open the database is a root key error, a
missing key a missing-state error, anything else (module, token, options) configuration.
"""

from __future__ import annotations

from openkms.crypto import contexts
from openkms.crypto.hsm import (
    HSMKeyMissingError,
    HSMLoginError,
    HSMRoot,
    HSMSealer,
    HSMStartError,
    pin_from_environment,
)
from openkms.crypto.keyring import (
    PKCS11,
    SOFTWARE,
    KeyringUnavailableError,
    SealedKeyring,
    Sealer,
    UnwrapError,
    new_fingerprint_key,
    sealed_by,
)
from openkms.server.bootstrap import MissingStateError, RootKeyError, Settings, StartupError
from openkms.storage import shared as shared_records
from openkms.storage.repository import Store

FINGERPRINT_KEY_META = "fingerprint_key"
REWRAP_META = "rewrap_to"
PENDING_CHECK_META = "root_check_pending"
KINDS = (SOFTWARE, PKCS11)


def hsm_root(settings: Settings) -> HSMRoot:
    missing = [
        option
        for option, value in (
            ("--pkcs11-module", settings.pkcs11_module),
            ("--pkcs11-token", settings.pkcs11_token),
            ("--pkcs11-key", settings.pkcs11_key),
        )
        if not value
    ]
    if missing:
        raise StartupError(f"--root-of-trust pkcs11 needs {', '.join(missing)}")
    assert settings.pkcs11_module and settings.pkcs11_token and settings.pkcs11_key
    return HSMRoot(settings.pkcs11_module, settings.pkcs11_token, settings.pkcs11_key)


def open_hsm_sealer(settings: Settings, *, create: bool) -> HSMSealer:
    """The HSM of ``settings``, logged in; its key generated when ``create`` and absent."""
    root = hsm_root(settings)
    try:
        return HSMSealer(root, pin_from_environment(), create=create)
    except HSMLoginError as exc:
        raise RootKeyError(str(exc)) from None
    except HSMKeyMissingError as exc:
        raise MissingStateError(str(exc)) from None
    except HSMStartError as exc:
        raise StartupError(str(exc)) from None


def refuse_other_root(settings: Settings, check: bytes | None, rewrap_to: bytes | None) -> None:
    """Refuse a start while a rewrap is unfinished, or with a root of the other kind than
    the one that sealed the database."""
    if settings.root_of_trust not in KINDS:
        raise StartupError(f"unknown root of trust {settings.root_of_trust!r} (software, pkcs11)")
    if rewrap_to is not None:
        raise StartupError(
            f"an openkms admin rewrap --to {rewrap_to.decode()} has not finished: "
            "run it again to finish it"
        )
    if check is None:
        return
    sealer = sealed_by(check)
    if sealer == PKCS11 and settings.root_of_trust != PKCS11:
        raise RootKeyError(
            "this database's secrets are sealed by a PKCS#11 HSM: start with "
            "--root-of-trust pkcs11 (or move them with openkms admin rewrap --to software)"
        )
    if sealer == SOFTWARE and settings.root_of_trust == PKCS11:
        raise RootKeyError(
            "this database's secrets are sealed by a software root key: start without "
            "--root-of-trust pkcs11 (or move them with openkms admin rewrap --to pkcs11)"
        )


def unseal_fingerprint_key(settings: Settings, sealer: Sealer, sealed: bytes) -> bytes:
    """The stored fingerprint key; a root that does not open it is not this database's."""
    try:
        return sealer.unwrap(sealed, contexts.FINGERPRINT_KEY)
    except UnwrapError:
        raise RootKeyError(wrong_root_message(settings)) from None
    except KeyringUnavailableError as exc:
        raise StartupError(str(exc)) from None


def open_hsm_keyring(
    settings: Settings, store: Store, *, fresh: bool, create: bool
) -> SealedKeyring:
    """The HSM keyring of a database (``fresh``: one with no secrets yet, whose root key
    and fingerprint key are made here when ``create``)."""
    sealer = open_hsm_sealer(settings, create=create and fresh)
    try:
        with store.transaction() as tx:
            sealed = shared_records.get_meta(tx, FINGERPRINT_KEY_META)
        if sealed is None:
            if not (create and fresh):
                raise RootKeyError("the database holds no fingerprint key for its PKCS#11 root")
            key = new_fingerprint_key()
            with store.transaction(write=True) as tx:
                shared_records.set_meta(
                    tx, FINGERPRINT_KEY_META, _wrap(sealer, key, contexts.FINGERPRINT_KEY)
                )
            return SealedKeyring(sealer, key)
        return SealedKeyring(sealer, unseal_fingerprint_key(settings, sealer, sealed))
    except BaseException:
        sealer.close()
        raise


def _wrap(sealer: Sealer, secret: bytes, context: bytes) -> bytes:
    try:
        return sealer.wrap(secret, context)
    except KeyringUnavailableError as exc:
        raise StartupError(str(exc)) from None


def wrong_root_message(settings: Settings) -> str:
    if settings.root_of_trust == PKCS11:
        return (
            f"the PKCS#11 key {settings.pkcs11_key!r} on token {settings.pkcs11_token!r} "
            "does not open this database"
        )
    return (
        "the root key does not open this database (wrong OPENKMS_ROOT_KEY, "
        "OPENKMS_ROOT_PASSPHRASE or root.key file)"
    )
