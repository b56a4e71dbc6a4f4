"""What a handler receives: the request, its open transaction, the resolved keys, and the
few parts of the server handlers use (the keyring, the material cache, the stock of
wrapping key pairs, the maintenance wake-up), never the whole service."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openkms.crypto.importing import WrappingKeyStock
from openkms.crypto.keyring import Keyring
from openkms.domain.keys import Key, KeySpec
from openkms.errors import KMSInternalException, SerializationException
from openkms.service.context import RequestContext
from openkms.service.kms.materials import MaterialCache
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Tx


@dataclass(slots=True)
class OperationCall:
    """One KMS operation call as its handler sees it (not the audit record's input,
    :class:`openkms.audit.records.AuditedCall`)."""

    ctx: RequestContext
    params: dict[str, Any]
    tx: Tx
    keys: list[Key | None]
    #: Wraps and unwraps what is sealed under the root of trust (key material, tokens).
    keyring: Keyring
    #: Unwrapped material by key version (use :meth:`backing_key`, :meth:`material_id`).
    materials: MaterialCache
    #: Fresh RSA wrapping key pairs for GetParametersForImport, made ahead of time.
    wrapping_keys: WrappingKeyStock
    #: Asks for a maintenance pass soon (RotateKeyOnDemand).
    wake_maintenance: Callable[[], None]
    #: Run once the request's transaction has committed (never if it rolls back).
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    #: What the operation's ``prepare`` made before the transaction (see the registry).
    prepared: object = None

    @property
    def key(self) -> Key:
        """The first (usually only) key the operation acts on."""
        key = self.keys[0]
        if key is None:
            raise KMSInternalException("operation declared no key")
        return key

    def blob(self, name: str) -> bytes:
        """A blob member, base64-decoded (validation already checked it decodes)."""
        try:
            return base64.b64decode(self.params[name], validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"'{name}' is not valid base64") from None

    def backing_key(self, key: Key, version: int) -> Any:
        """Ready-to-use material of one key version (cached): ``bytes`` for symmetric keys,
        a loaded key object for the others; None if there is no such version."""
        entry = self.materials.get(self.tx, key, version)
        return None if entry is None else entry[0]

    def material_id(self, key: Key, version: int) -> str | None:
        """The KeyMaterialId AWS reports for symmetric encryption keys (None for others)."""
        if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
            return None
        entry = self.materials.get(self.tx, key, version)
        if entry is not None:
            return entry[1]
        material = key_records.get_material(
            self.tx, key.key_id, version
        )  # deleted imported material
        return None if material is None else material.material_id
