"""What a handler receives: the request, its open transaction, the resolved keys, and the
few parts of the server handlers use (the keyring, the material cache, the stock of
wrapping key pairs, the maintenance wake-up), never the whole service.

``OperationCall`` is generic over its parameters: a handler is typed with the generated
request of its operation (``OperationCall[EncryptRequest]``, :mod:`openkms.wire.shapes`),
so what it reads from ``params`` is checked against botocore's model. Shared helpers that
read no parameters take ``OperationCall[object]`` (a handler never assigns to its call, so
it is covariant in its parameters' type)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from openkms.crypto.importing import WrappingKeyStock
from openkms.crypto.keyring import Keyring
from openkms.crypto.loaded import LoadedKey
from openkms.domain.keys import Key, KeySpec
from openkms.errors import KMSInternalException, SerializationException
from openkms.service.context import RequestContext
from openkms.service.kms.key_stores import KeyStores
from openkms.service.kms.materials import MaterialCache
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Tx

#: The request's parameters as :func:`openkms.wire.validation.validate` returned them,
#: typed by the operation's generated ``...Request`` TypedDict.
Params = TypeVar("Params", covariant=True)


@dataclass(slots=True, eq=False)
class OperationCall(Generic[Params]):
    """One KMS operation call as its handler sees it (not the audit record's input,
    :class:`openkms.audit.records.AuditedCall`).

    Read-only to handlers, but not a frozen dataclass: one is made per request, and a
    frozen one's ``__init__`` (``object.__setattr__`` per field) costs three times as
    much, 1.3 µs of an Encrypt's CPU (bench/request_cpu.py)."""

    ctx: RequestContext
    params: Params
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
    #: Run if the request's transaction rolls back after the handler ran (undoes work done
    #: outside the database, such as a backing key made in an HSM; best effort).
    after_rollback: list[Callable[[], None]] = field(default_factory=list)
    #: What the operation's ``prepare`` made before the transaction (see the registry).
    prepared: object = None
    #: The Regions this server serves (``serve --regions``); empty: any Region.
    regions: frozenset[str] = frozenset()
    #: The custom key store backends and their connections (:meth:`key_stores`).
    custom_key_stores: KeyStores | None = None
    #: The operation's name (an XKS proxy's ``kmsOperation``).
    operation: str = ""

    @property
    def key(self) -> Key:
        """The first (usually only) key the operation acts on."""
        key = self.keys[0]
        if key is None:
            raise KMSInternalException("operation declared no key")
        return key

    @property
    def key_stores(self) -> KeyStores:
        """The custom key stores (every server has them; a bare call in a test may not)."""
        if self.custom_key_stores is None:
            raise KMSInternalException("no custom key store backends")
        return self.custom_key_stores

    def blob(self, value: str, name: str) -> bytes:
        """A blob member's base64 text (``value``, the member ``name``), decoded
        (validation already checked it decodes)."""
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"'{name}' is not valid base64") from None

    def backing_key(self, key: Key, version: int) -> bytes | LoadedKey | None:
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
