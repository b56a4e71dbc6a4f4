"""Creating an AWS managed key when its predefined alias is first referenced.

"If you call the DescribeKey operation on a predefined AWS alias, that is, an AWS alias
with no key ID, AWS KMS creates an AWS managed key. Then, it associates the alias with
the new KMS key" (DescribeKey API reference). The rules of the key are in
:mod:`openkms.domain.managed_keys`.

AWS services create it on their first use too: the operations a service encrypts with
create it when called through that service (:func:`on_first_use`).

The key is created in a write transaction of its own, committed before the request's
transaction opens, so the request then resolves and authorizes the alias like any other
(the new key's policy lets the account's principals describe it, through their IAM
policies). It is AWS's work, not the caller's: its audit record is an
``AwsServiceEvent`` ``CreateKey`` in the account's trail, committed with the key.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping

from openkms.audit.records import service_event_record
from openkms.crypto import contexts
from openkms.crypto.keyring import Keyring
from openkms.domain import managed_keys
from openkms.domain.aliases import Alias
from openkms.domain.audit import PendingRecord
from openkms.domain.identifiers import RefKind, parse_key_ref
from openkms.domain.keys import KeyMaterial, KeySpec
from openkms.errors import AWSError
from openkms.service.conditions import via_service
from openkms.service.context import RequestContext
from openkms.service.kms.materials import new_material
from openkms.service.kms.registry import Materialize
from openkms.storage.audit import trail as audit_store
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import DuplicateError, Store


def referenced_service(
    ctx: RequestContext, identifier: object
) -> managed_keys.ManagedService | None:
    """The service whose predefined alias ``identifier`` names in the caller's own account
    and Region (None: any other identifier)."""
    if not isinstance(identifier, str) or "alias/aws/" not in identifier:
        return None
    try:
        ref = parse_key_ref(identifier)
    except AWSError:
        return None  # resolution answers the malformed identifier as usual
    if ref.kind is not RefKind.ALIAS:
        return None
    if (ref.account or ctx.account) != ctx.account or (ref.region or ctx.region) != ctx.region:
        return None
    return managed_keys.service_of_alias(ref.name)


def ensure_managed_key(
    store: Store, keyring: Keyring, ctx: RequestContext, params: Mapping[str, object]
) -> None:
    """DescribeKey's first reference to a predefined alias: create the AWS managed key
    behind it (nothing when the request names anything else, or the key exists)."""
    service = referenced_service(ctx, params.get("KeyId"))
    if service is not None:
        _create(store, keyring, ctx, service)


def on_first_use(param: str) -> Materialize:
    """For the operations a service encrypts with (Encrypt, GenerateDataKey*, ...): the
    first request *through the service* (``kms:ViaService``, see
    :func:`openkms.service.conditions.via_service`) naming its predefined alias in
    ``param`` creates the AWS managed key, as AWS services do on first use. A direct
    caller naming the alias of a key that does not exist yet gets NotFoundException."""

    def materialize(
        store: Store, keyring: Keyring, ctx: RequestContext, params: Mapping[str, object]
    ) -> None:
        service = referenced_service(ctx, params.get(param))
        if service is not None and via_service(ctx) == service.via_service(ctx.region):
            _create(store, keyring, ctx, service)

    return materialize


def _create(
    store: Store, keyring: Keyring, ctx: RequestContext, service: managed_keys.ManagedService
) -> None:
    """Create ``service``'s AWS managed key in the caller's account and Region, unless it
    exists. On the event loop the write transaction raises Offload (the request starts
    over on a thread), so only the cheap check runs there."""
    with store.transaction() as tx:
        if key_records.get_alias(tx, ctx.account, ctx.region, service.alias) is not None:
            return
    try:
        with store.transaction(write=True) as tx:
            if key_records.get_alias(tx, ctx.account, ctx.region, service.alias) is not None:
                return
            now = time.time()
            key = managed_keys.managed_key(service, str(uuid.uuid4()), ctx.account, ctx.region, now)
            material = KeyMaterial(
                key_id=key.key_id,
                version=1,
                material_id=os.urandom(32).hex(),
                wrapped=keyring.wrap(
                    new_material(KeySpec.SYMMETRIC_DEFAULT), contexts.key_material(key.key_id, 1)
                ),
                created_at=now,
            )
            key_records.insert_key(tx, key, material, {})
            key_records.insert_alias(
                tx, Alias(ctx.account, ctx.region, service.alias, key.key_id, now, now)
            )
            record = service_event_record(
                event_id=str(uuid.uuid4()),
                event_time=now,
                event_name="CreateKey",
                account=key.account,
                region=key.region,
                key_arn=key.arn,
            )
            audit_store.append_records(tx, [PendingRecord.from_record(record, event_time=now)])
    except DuplicateError:
        return  # another request created it first: use that one
