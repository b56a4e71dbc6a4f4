"""KMSService: the single entry point from the wire into the domain.

``dispatch`` is the one chokepoint every KMS request passes through, in one
transaction: resolve each key the operation names → authorize the declared action
on it → run the handler → commit. A failure anywhere rolls the whole request back.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from openkms.audit.records import CRYPTO_OPERATIONS
from openkms.crypto.importing import WrappingKeyStock
from openkms.crypto.keyring import Keyring
from openkms.domain import ciphertext, multi_region
from openkms.domain.grant_tokens import check_tokens
from openkms.domain.keys import Key, KeySpec
from openkms.domain.principals import Principal
from openkms.errors import (
    DryRunOperationException,
    InvalidCiphertextException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.service import conditions
from openkms.service.audit_trail import Appender, RequestTrail
from openkms.service.context import RequestContext
from openkms.service.kms.authorize import (
    allowed_whatever_the_context,
    authorize,
    authorize_account,
    is_account_root,
    refuse_explicit_deny,
)
from openkms.service.kms.call import OperationCall
from openkms.service.kms.grant_check import check_grants
from openkms.service.kms.key_stores import KeyStores
from openkms.service.kms.materials import MaterialCache
from openkms.service.kms.ops import REGISTRY
from openkms.service.kms.registry import FROM_CIPHERTEXT, KeyArg, Operation
from openkms.service.kms.resolve import resolve_key
from openkms.service.policy_principals import effective_policy
from openkms.service.throttle import Throttle
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Offload, Store, Tx

log = logging.getLogger("openkms.service")

DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."

#: Key specs whose cryptography takes microseconds (AES-GCM, HMAC, P-256 ECDSA): requests
#: on them may be answered on the event loop. RSA private-key operations take
#: milliseconds, and the larger curves and ML-DSA hundreds of microseconds.
LOOP_SPECS = frozenset(
    {
        KeySpec.SYMMETRIC_DEFAULT,
        KeySpec.HMAC_224,
        KeySpec.HMAC_256,
        KeySpec.HMAC_384,
        KeySpec.HMAC_512,
        KeySpec.ECC_NIST_P256,
        KeySpec.ECC_SECG_P256K1,
    }
)


#: Identity policies (JSON texts) attached to a principal, read inside the request's unit
#: of work. Accounts' root users have none (they are allowed everything in their account).
IdentityPolicySource = Callable[[Tx, Principal], Sequence[str]]
#: Whether a grant on the key allows an operation (key, principal, operation, parameters).
GrantSource = Callable[[Tx, Key, Principal, str, Mapping[str, Any]], bool]


def _no_identity_policies(tx: Tx, principal: Principal) -> Sequence[str]:
    return ()


class KMSService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        identity_policies: IdentityPolicySource = _no_identity_policies,
        grants: GrantSource = check_grants,
        audit_appender: Appender | None = None,
        regions: Collection[str] = (),
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.materials = MaterialCache(keyring)
        #: Custom key store backends, their connections kept per process.
        self.key_stores = KeyStores(keyring, on_event_loop=lambda: store.memory_only)
        #: Fresh RSA wrapping key pairs for GetParametersForImport, made ahead of time.
        self.wrapping_keys = WrappingKeyStock()
        self.identity_policies = identity_policies
        self.grants = grants
        #: Appends audit records inside a write transaction (None: no audit trail, tests).
        self.audit_appender = audit_appender
        #: The Regions served (``serve --regions``); empty: any Region.
        self.regions = frozenset(regions)
        #: Asks for a maintenance pass soon (set by the server; RotateKeyOnDemand uses it).
        self.wake_maintenance: Callable[[], None] = lambda: None
        #: Request quotas (set by the server; openkms.service.throttle): none by default.
        self.throttle = Throttle(None, enabled=False)

    def dispatch(
        self,
        ctx: RequestContext,
        name: str,
        params: dict[str, Any],
        trail: RequestTrail | None = None,
    ) -> Mapping[str, Any]:
        op = REGISTRY.get(name)
        if op is None:
            raise UnsupportedOperationException(
                f"{name} is not supported by this OpenKMS server yet."
            )
        grant_tokens = params.get("GrantTokens")
        if grant_tokens:
            check_tokens(grant_tokens)  # grants are visible at once; tokens must be ours
        if op.materialize is not None:
            op.materialize(self.store, self.keyring, ctx, params)
        prepared = None
        if op.prepare is not None:
            # Authorized before the costly preparation (an RSA key pair), so that a caller
            # without permission cannot make the server do that work; authorized again in
            # the write transaction below, against the state the change is made on.
            with self.store.transaction() as tx:
                self._authorized_keys(tx, ctx, op, params, trail, writes=False)
            self.throttle.charge(ctx, name, params, ())  # before the costly preparation
            prepared = op.prepare(self.wrapping_keys, params)
        # The keys go on the trail once (by the first authorization).
        collect = trail if op.prepare is None else None
        call: OperationCall[Any] | None = None
        try:
            with self.store.transaction(write=op.writes, snapshot=op.snapshot) as tx:
                keys = self._authorized_keys(tx, ctx, op, params, collect, writes=op.writes)
                if self.store.memory_only and not _loop_keys(keys):
                    raise Offload()  # slow cryptography: not on the event loop
                if op.prepare is None:  # counted once authorized, before the handler's work
                    self.throttle.charge(ctx, name, params, keys)
                call = OperationCall(
                    ctx,
                    params,
                    tx,
                    keys,
                    keyring=self.keyring,
                    materials=self.materials,
                    wrapping_keys=self.wrapping_keys,
                    wake_maintenance=self.wake_maintenance,
                    prepared=prepared,
                    regions=self.regions,
                    custom_key_stores=self.key_stores,
                    operation=name,
                )
                result = op.handler(call)
                if op.dry_run and params.get("DryRun") is True:
                    raise DryRunOperationException(DRY_RUN_MESSAGE)
                if op.writes and trail is not None and self.audit_appender is not None:
                    # The record commits with the change it describes, or neither does.
                    trail.append_in(tx, self.audit_appender, result)
        except BaseException:
            for undo in call.after_rollback if call is not None else ():
                undo()
            raise
        assert call is not None  # the transaction committed, so the handler ran
        for callback in call.after_commit:
            callback()
        return result

    def _authorized_keys(
        self,
        tx: Tx,
        ctx: RequestContext,
        op: Operation,
        params: dict[str, Any],
        trail: RequestTrail | None,
        *,
        writes: bool,
    ) -> list[Key | None]:
        """Resolve every key the operation names and authorize the caller on each (or on
        its account, when there is none); the keys found go on ``trail``."""
        policies = self._policies_of(tx)
        places = [_in_region(ctx, arg, params) for arg in op.keys]
        found = [
            self._find(tx, there, arg, params, writes)
            for there, arg in zip(places, op.keys, strict=True)
        ]
        present = [key for key, _ in found if key is not None]
        base: dict[str, object] | None = None

        def request_context() -> dict[str, object]:
            """The condition keys of the request, built only when a policy reads them."""
            nonlocal base
            if base is None:
                base = conditions.base_context(ctx, params)
                if op.condition_keys is not None and present and len(present) == len(found):
                    base.update(op.condition_keys(present))
            return base

        if not present:
            # No key, or an optional one not given (ListAliases without KeyId): the
            # caller's identity policies decide, for its own account; where the
            # handler decides (RetireGrant), they can still deny explicitly.
            if op.account_check:
                authorize_account(ctx, op.action, request_context(), policies)
            else:
                refuse_explicit_deny(ctx, op.action, request_context(), policies)
        keys: list[Key | None] = []
        for arg, there, (key, requested) in zip(op.keys, places, found, strict=True):
            if key is not None:
                if trail is not None:
                    trail.keys.append(key)
                    _note_key_store(trail, key)
                self._authorize(tx, there, arg, key, requested, params, request_context, policies)
            keys.append(key)
        if op.regional_actions is not None:
            for action, region in op.regional_actions(params):
                there = dataclasses.replace(ctx, region=region)
                authorize_account(there, action, conditions.base_context(there, params), policies)
        return keys

    def _policies_of(self, tx: Tx) -> Callable[[Principal], Sequence[str]]:
        """The identity-policy lookup for one request, read at most once per principal."""
        seen: dict[str, Sequence[str]] = {}

        def lookup(principal: Principal) -> Sequence[str]:
            found = seen.get(principal.arn)
            if found is None:
                found = seen[principal.arn] = tuple(self.identity_policies(tx, principal))
            return found

        return lookup

    def _find(
        self, tx: Tx, ctx: RequestContext, arg: KeyArg, params: dict[str, Any], writes: bool
    ) -> tuple[Key | None, str | None]:
        """The key an argument names (and the identifier the caller used), not yet authorized."""
        identifier = arg.source(params)
        if identifier is FROM_CIPHERTEXT:
            return _key_of_blob(tx, ctx, params), None
        if not isinstance(identifier, str):
            if arg.required:
                raise NotFoundException("No key identifier was given.")
            return None, None
        key = resolve_key(tx, ctx, identifier, for_update=writes, allow_alias=arg.allow_alias)
        return key, identifier

    def _authorize(
        self,
        tx: Tx,
        ctx: RequestContext,
        arg: KeyArg,
        key: Key,
        requested: str | None,
        params: dict[str, Any],
        request_context: Callable[[], dict[str, object]],
        policies: Callable[[Principal], Sequence[str]],
    ) -> None:
        principal = ctx.principal
        policy_text = effective_policy(tx, key)
        identity = () if is_account_root(principal) else tuple(policies(principal))
        # Policies that read no condition key give the same answer to every request of
        # this caller, action, key and policy texts: an allow is kept in the read cache
        # (emptied by any change of state), and the request context is not even built.
        slot = ("allowed", principal, arg.action, key.arn, policy_text, identity)
        if tx.cached(
            slot,
            lambda: allowed_whatever_the_context(principal, arg.action, key, policies, policy_text),
        ):
            return
        context = conditions.key_context(
            request_context(), key, tx, requested, (key.policy, *identity)
        )

        def grant_allows(
            key: Key, principal: Principal, operation: str, context: Mapping[str, object]
        ) -> bool:
            return self.grants(tx, key, principal, operation, params)

        authorize(ctx, arg.action, key, context, policies, grant_allows, policy_text)


def _note_key_store(trail: RequestTrail, key: Key) -> None:
    """CloudTrail's ``additionalEventData`` of a cryptographic operation with a key in a
    custom key store: its ``customKeyStoreId``, and the external key (``xksKeyId``) of a
    key in an external key store, as AWS's records show (the first such key's)."""
    if key.custom_key_store_id is None or trail.event_name not in CRYPTO_OPERATIONS:
        return
    trail.additional.setdefault("customKeyStoreId", key.custom_key_store_id)
    if key.xks_key_id is not None:
        trail.additional.setdefault("xksKeyId", key.xks_key_id)


def _loop_keys(keys: list[Key | None]) -> bool:
    """Whether a request on these keys may be answered on the event loop: fast software
    cryptography (a key in a custom key store calls its HSM)."""
    for key in keys:
        if key is not None and (key.spec not in LOOP_SPECS or key.custom_key_store_id is not None):
            return False
    return True


def _in_region(ctx: RequestContext, arg: KeyArg, params: dict[str, Any]) -> RequestContext:
    """The context a key argument is found and authorized in: the request's, or that of
    the Region its ``region_param`` names."""
    region = params.get(arg.region_param) if arg.region_param is not None else None
    return ctx if not isinstance(region, str) else dataclasses.replace(ctx, region=region)


def _key_of_blob(tx: Tx, ctx: RequestContext, params: dict[str, Any]) -> Key:
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
    # A multi-Region key id names the related key of the caller's Region.
    key = key_records.get_key(tx, multi_region.record_id(parsed.key_id, ctx.region))
    if key is None or key.region != ctx.region:
        raise InvalidCiphertextException()
    return key
