"""Composition root of ``openkms xks-proxy``: the database, root of trust, audit writer,
credentials and :class:`~openkms.service.xks_proxy.XKSProxyService` of one proxy process.

The proxy opens the same state as ``openkms serve`` (``--data-dir``/``--database`` and the
root-of-trust options; both may run at once on one database) and, like ``serve``, makes
it on first start. Its calls go to the same audit trail, through an audit writer of its
own (a process by default, as ``serve``'s).

Credentials (§Authentication; rotation: §SigV4 credentials rotation): the one named by
``OPENKMS_XKS_ACCESS_KEY_ID`` / ``OPENKMS_XKS_SECRET_ACCESS_KEY``, and every credential
stored with ``openkms admin xks-credential create`` (sealed under the root of trust).
Stored ones are read through the read cache, so one created or deleted while the proxy
runs is accepted or refused within the cross-process bound, without a restart: add the
new credential, update the external key store in KMS, then delete the old one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from openkms import __version__
from openkms.crypto import contexts
from openkms.crypto.keyring import PKCS11, Keyring, UnwrapError
from openkms.domain import xks
from openkms.server.bootstrap import (
    DatabaseStartupError,
    Settings,
    StartupError,
    append_audit_entries,
    audit_sealer,
    check_root_of_trust,
    open_state,
    probe_writes,
)
from openkms.server.bootstrap import _prepare_audit_trail as prepare_audit_trail
from openkms.service.audit_trail import AuditSink, AuditWriter
from openkms.service.xks_proxy import XKSProxyService
from openkms.storage.repository import StorageError, Store
from openkms.storage.xks import repository as xks_records

ACCESS_KEY_ENV = "OPENKMS_XKS_ACCESS_KEY_ID"
SECRET_ENV = "OPENKMS_XKS_SECRET_ACCESS_KEY"
#: Unsealed stored secrets kept (by sealed value, so a deleted and re-made one is new).
_MAX_SECRETS = 1024


class XKSCredentials:
    """Access key id -> secret: the environment's credential, then the stored ones."""

    def __init__(self, store: Store, keyring: Keyring, fixed: dict[str, str]) -> None:
        self._store = store
        self._keyring = keyring
        self._fixed = dict(fixed)
        self._unsealed: dict[bytes, str] = {}

    def secret(self, access_key_id: str) -> str | None:
        found = self._fixed.get(access_key_id)
        if found is not None or not xks.is_access_key_id(access_key_id):
            return found
        with self._store.transaction() as tx:
            wrapped = xks_records.get_credential(tx, access_key_id)
        if wrapped is None:
            return None
        secret = self._unsealed.get(wrapped)
        if secret is None:
            try:
                secret = self._keyring.unwrap(
                    wrapped, contexts.xks_credential_secret(access_key_id)
                ).decode()
            except UnwrapError:
                return None  # a tampered row authenticates nobody
            if len(self._unsealed) >= _MAX_SECRETS:
                self._unsealed.clear()
            self._unsealed[wrapped] = secret
        return secret


def environment_credential() -> dict[str, str]:
    """The credential the environment names (none, or one); StartupError when it is
    half set or malformed (Appendix A's formats)."""
    akid, secret = os.environ.get(ACCESS_KEY_ENV), os.environ.get(SECRET_ENV)
    if bool(akid) != bool(secret):
        raise StartupError(f"set both {ACCESS_KEY_ENV} and {SECRET_ENV}, or neither")
    if not akid or not secret:
        return {}
    if not xks.is_access_key_id(akid):
        raise StartupError(f"{ACCESS_KEY_ENV} must be 20-30 characters from A-Z and 2-7")
    if not xks.is_secret(secret):
        raise StartupError(f"{SECRET_ENV} must be 43-64 characters from A-Z, a-z, 0-9, +, / and =")
    return {akid: secret}


@dataclass
class XKSRuntime:
    settings: Settings
    store: Store
    keyring: Keyring
    service: XKSProxyService
    credentials: XKSCredentials
    audit: AuditSink
    credential_count: int


def build(settings: Settings) -> XKSRuntime:
    """Open (or make) the state and everything the proxy process needs."""
    fixed = environment_credential()
    store, keyring = open_state(settings)
    try:
        probe_writes(store)
        with store.transaction() as tx:
            stored = len(xks_records.list_credentials(tx))
    except StorageError as exc:
        store.close()
        raise DatabaseStartupError(f"the database cannot be used: {exc}") from None
    if not fixed and not stored:
        store.close()
        raise StartupError(
            f"no XKS proxy credential: set {ACCESS_KEY_ENV} and {SECRET_ENV}, or run "
            "'openkms admin xks-credential create'"
        )
    prepare_audit_trail(settings, store, keyring)
    audit: AuditSink
    if settings.audit_writer == "process":
        from openkms.server.audit_process import ProcessAuditWriter

        audit = ProcessAuditWriter(settings)
    else:
        audit = AuditWriter(
            store, append_audit_entries, sealer=audit_sealer(settings, store, keyring)
        )
    root = settings.root_of_trust
    service = XKSProxyService(
        store,
        keyring,
        probe=lambda: check_root_of_trust(store, keyring),
        ekm_id=f"openkms-{root}",
        ekm_model="OpenKMS root of trust ("
        + ("PKCS#11 HSM" if root == PKCS11 else "software root key")
        + ")",
        proxy_model=f"OpenKMS XKS proxy {__version__}",
    )
    credentials = XKSCredentials(store, keyring, fixed)
    return XKSRuntime(settings, store, keyring, service, credentials, audit, len(fixed) + stored)
