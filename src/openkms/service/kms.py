"""KMSService: the single entry point from the wire into the domain.

``dispatch`` is the one chokepoint every KMS request passes through, in one
transaction: resolve each key the operation names → authorize the declared action
on it → run the handler → commit. A failure anywhere rolls the whole request back.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from openkms.crypto.keyring import Keyring
from openkms.domain import ciphertext
from openkms.errors import (
    DryRunOperationException,
    InvalidCiphertextException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service import ops  # noqa: F401  (registers the handlers)
from openkms.service.authorize import authorize
from openkms.service.call import Call
from openkms.service.context import RequestContext
from openkms.service.materials import MaterialCache
from openkms.service.registry import FROM_CIPHERTEXT, REGISTRY, KeyArg
from openkms.service.resolve import resolve_key
from openkms.storage.repository import Store, Tx

log = logging.getLogger("openkms.service")

DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."


class KMSService:
    def __init__(self, store: Store, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring
        self.materials = MaterialCache(keyring)

    def dispatch(self, ctx: RequestContext, name: str, params: dict[str, Any]) -> dict[str, Any]:
        op = REGISTRY.get(name)
        if op is None:
            raise UnsupportedOperationException(
                f"{name} is not supported by this OpenKMS server yet."
            )
        with self.store.transaction(write=op.writes) as tx:
            keys = [self._resolve(tx, ctx, arg, params, op.writes) for arg in op.keys]
            result = op.handler(Call(ctx, params, tx, keys, self))
            if op.dry_run and params.get("DryRun") is True:
                raise DryRunOperationException(DRY_RUN_MESSAGE)
        return result

    def _resolve(
        self, tx: Tx, ctx: RequestContext, arg: KeyArg, params: dict[str, Any], writes: bool
    ) -> Any:
        identifier = arg.source(params)
        if identifier is FROM_CIPHERTEXT:
            key = _key_of_blob(tx, ctx, params)
        else:
            if not isinstance(identifier, str):
                if arg.required:
                    raise NotFoundException("No key identifier was given.")
                return None
            key = resolve_key(tx, ctx, identifier, for_update=writes, allow_alias=arg.allow_alias)
        authorize(ctx, arg.action, key)
        return key


def _key_of_blob(tx: Tx, ctx: RequestContext, params: dict[str, Any]) -> Any:
    """The key a ciphertext names. An unknown or foreign-region key is an invalid ciphertext:
    the caller learns nothing about which part of the blob was wrong."""
    raw = params.get("CiphertextBlob")
    if not isinstance(raw, str):
        raise ValidationException(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy "
            "constraint: Member must not be null"
        )
    try:
        parsed = ciphertext.parse(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        raise InvalidCiphertextException() from None
    key = tx.get_key(parsed.key_id)
    if key is None or key.region != ctx.region:
        raise InvalidCiphertextException()
    return key
