"""Multi-Region keys: ReplicateKey and UpdatePrimaryRegion (CreateKey ``MultiRegion=true``
is in ``keys.py``; rotations reach replicas through
:mod:`openkms.service.kms.multi_region_sync`).

The rules are :mod:`openkms.domain.multi_region`'s; this module reads and writes the
related keys. Each handler links its AWS API reference page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from openkms.audit.event_ids import new_event_id
from openkms.audit.records import AuditedCall
from openkms.domain import multi_region, policy, tags
from openkms.domain.keys import Key, KeyMaterial, key_arn
from openkms.service.audit_trail import Entry
from openkms.service.kms import multi_region_sync, resource_quotas
from openkms.service.kms.call import OperationCall
from openkms.service.kms.metadata import key_metadata
from openkms.service.kms.policy_lockout import check_new_policy
from openkms.service.kms.registry import KeyArg, operation, param
from openkms.storage.audit import trail as audit_store
from openkms.storage.keys import repository as key_records
from openkms.wire.shapes import (
    ReplicateKeyRequest,
    ReplicateKeyResponse,
    UpdatePrimaryRegionRequest,
    UpdatePrimaryRegionResponse,
)


def _in_replica_region(params: Mapping[str, object]) -> Sequence[tuple[str, str]]:
    """ReplicateKey's permissions in the replica Region (IAM policies): kms:CreateKey,
    and kms:TagResource when the request tags the replica."""
    region = params.get("ReplicaRegion")
    if not isinstance(region, str):
        return ()
    actions = [("kms:CreateKey", region)]
    if params.get("Tags"):
        actions.append(("kms:TagResource", region))
    return actions


@operation("ReplicateKey", writes=True, regional_actions=_in_replica_region)
def replicate_key(call: OperationCall[ReplicateKeyRequest]) -> ReplicateKeyResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html

    The replica shares the primary's key id, material (every version, under the same
    version numbers), spec, usage, origin and rotation settings; its policy, description
    and tags are its own. It is ``Creating`` until maintenance finishes it (woken at once).
    kms:ReplicateKey is authorized on the primary by its key policy, kms:CreateKey in the
    replica Region by the caller's IAM policies (the registry's ``regional_actions``)."""
    p = call.params
    primary, ctx = call.key, call.ctx
    region = p["ReplicaRegion"]
    related = key_records.related_keys(call.tx, primary.account, primary.public_id)
    multi_region.require_replicable(primary, region, call.regions, related)
    arn = key_arn(region, primary.account, primary.public_id)
    text = p.get("Policy")
    if text is None:
        text = policy.default_policy(ctx.account)
    else:
        check_new_policy(call, text, arn, bypass=p.get("BypassPolicyLockoutSafetyCheck"))
    new_tags = tags.check_new_tags([(t["TagKey"], t["TagValue"]) for t in p.get("Tags", [])])
    tags.merged({}, new_tags)
    replica = multi_region.replica_of(primary, region, p.get("Description", ""), text, ctx.now)
    copies = _copied_materials(call, primary, replica)
    resource_quotas.check_new_key(call.tx, primary.account, region)
    key_records.insert_key(call.tx, replica, copies[0] if copies else None, new_tags)
    for material in copies[1:]:
        key_records.insert_material(call.tx, material)
    call.after_commit.append(call.wake_maintenance)
    result: ReplicateKeyResponse = {
        "ReplicaKeyMetadata": key_metadata(call, replica),
        "ReplicaPolicy": text,
        "ReplicaTags": [{"TagKey": k, "TagValue": v} for k, v in sorted(new_tags.items())],
    }
    # CloudTrail records it as ReplicateKey in the primary's Region (the request's own
    # record) and CreateKey in the replica's.
    _record_in(call, "CreateKey", replica, {"KeyMetadata": result["ReplicaKeyMetadata"]})
    return result


def _copied_materials(call: OperationCall[object], primary: Key, replica: Key) -> list[KeyMaterial]:
    """Every material version of the primary, as the replica stores it."""
    return [
        multi_region_sync.copy_material(call.keyring, material, primary, replica)
        for material in key_records.list_materials(call.tx, primary.key_id)
    ]


def _same_key_id(params: Mapping[str, object]) -> str | None:
    """UpdatePrimaryRegion's replica: the key id of ``KeyId`` (an ARN names the primary's
    Region), looked up in the ``PrimaryRegion``; None for an id no replica can have."""
    value = params.get("KeyId")
    if not isinstance(value, str):
        return None
    key_id = value.rsplit("/", 1)[-1] if value.startswith("arn:") else value
    return key_id if key_id.startswith(multi_region.PREFIX) else None


@operation(
    "UpdatePrimaryRegion",
    writes=True,
    keys=(
        KeyArg("kms:UpdatePrimaryRegion", param("KeyId")),
        KeyArg(
            "kms:UpdatePrimaryRegion", _same_key_id, required=False, region_param="PrimaryRegion"
        ),
    ),
)
def update_primary_region(
    call: OperationCall[UpdatePrimaryRegionRequest],
) -> UpdatePrimaryRegionResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdatePrimaryRegion.html

    kms:UpdatePrimaryRegion is authorized on both keys, each by its own key policy in its
    own Region (the registry finds the replica in ``PrimaryRegion``). Both keys are
    ``Updating`` (still usable) until maintenance finishes the change, woken at once;
    every related key learns the new primary Region in this transaction."""
    primary, now = call.key, call.ctx.now
    new_region = call.params["PrimaryRegion"]
    related = key_records.related_keys(call.tx, primary.account, primary.public_id)
    replica = multi_region.require_primary_change(primary, new_region, related)
    key_records.update_key(call.tx, multi_region.updating(primary, new_region, now))
    key_records.update_key(call.tx, multi_region.updating(replica, new_region, now))
    for other in related:
        if other.key_id not in (primary.key_id, replica.key_id):
            locked = key_records.get_key(call.tx, other.key_id, for_update=True)
            if locked is not None:
                key_records.update_key(
                    call.tx, multi_region.with_primary_region(locked, new_region)
                )
    call.after_commit.append(call.wake_maintenance)
    _record_in(call, "UpdatePrimaryRegion", replica, {})
    return {}


def _record_in(
    call: OperationCall[object], event_name: str, key: Key, response: Mapping[str, object]
) -> None:
    """The record of this call in ``key``'s Region (another than the request's, whose
    own record the dispatcher appends), committed with the change."""
    ctx = call.ctx
    params = call.params
    audited = AuditedCall(
        request_id=ctx.request_id,
        event_id=new_event_id(),
        event_time=ctx.now,
        event_source="kms.amazonaws.com",
        event_name=event_name,
        region=key.region,
        source_ip=ctx.source_ip,
        user_agent=ctx.user_agent,
        principal=ctx.principal,
        request=params if isinstance(params, Mapping) else {},
        response=response,
        resources=((key.account, key.arn),),
    )
    audit_store.append_checked(call.tx, [Entry(None, audited, ctx.account).checked()])


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (replicate_key, update_primary_region)
