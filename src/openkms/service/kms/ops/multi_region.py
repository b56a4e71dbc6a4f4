"""Multi-Region keys: ReplicateKey (CreateKey ``MultiRegion=true`` is in ``keys.py``).

The rules are :mod:`openkms.domain.multi_region`'s; this module reads and writes the
related keys. Each handler links its AWS API reference page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from openkms.audit.event_ids import new_event_id
from openkms.audit.records import AuditedCall
from openkms.crypto import contexts
from openkms.domain import multi_region, policy, tags
from openkms.domain.keys import Key, KeyMaterial, key_arn
from openkms.service.audit_trail import Entry
from openkms.service.kms.call import OperationCall
from openkms.service.kms.metadata import key_metadata
from openkms.service.kms.policy_lockout import check_new_policy
from openkms.service.kms.registry import operation
from openkms.storage.audit import trail as audit_store
from openkms.storage.keys import repository as key_records
from openkms.wire.shapes import ReplicateKeyRequest, ReplicateKeyResponse


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
    key_records.insert_key(call.tx, replica, copies[0] if copies else None, new_tags)
    for material in copies[1:]:
        key_records.insert_material(call.tx, material)
    call.after_commit.append(call.wake_maintenance)
    result: ReplicateKeyResponse = {
        "ReplicaKeyMetadata": key_metadata(call, replica),
        "ReplicaPolicy": text,
        "ReplicaTags": [{"TagKey": k, "TagValue": v} for k, v in sorted(new_tags.items())],
    }
    _record_create_key(call, replica, result)
    return result


def _copied_materials(call: OperationCall[object], primary: Key, replica: Key) -> list[KeyMaterial]:
    """Every material version of the primary, wrapped anew for the replica (a wrapped
    secret is bound to the stored id of its key and its version)."""
    copies = []
    for material in key_records.list_materials(call.tx, primary.key_id):
        wrapped = material.wrapped
        if wrapped is not None:
            secret = call.keyring.unwrap(
                wrapped, contexts.key_material(primary.key_id, material.version)
            )
            wrapped = call.keyring.wrap(
                secret, contexts.key_material(replica.key_id, material.version)
            )
        copies.append(
            KeyMaterial(
                key_id=replica.key_id,
                version=material.version,
                material_id=material.material_id,
                wrapped=wrapped,
                created_at=material.created_at,
                rotation_type=material.rotation_type,
                rotated_at=material.rotated_at,
                expiration_model=material.expiration_model,
                valid_to=material.valid_to,
                description=material.description,
                imported_at=material.imported_at,
            )
        )
    return copies


def _record_create_key(
    call: OperationCall[ReplicateKeyRequest], replica: Key, result: ReplicateKeyResponse
) -> None:
    """CloudTrail records a ReplicateKey call as ReplicateKey in the primary's Region (the
    request's own record) and CreateKey in the replica's, committed with the replica."""
    ctx = call.ctx
    created = AuditedCall(
        request_id=ctx.request_id,
        event_id=new_event_id(),
        event_time=ctx.now,
        event_source="kms.amazonaws.com",
        event_name="CreateKey",
        region=replica.region,
        source_ip=ctx.source_ip,
        user_agent=ctx.user_agent,
        principal=ctx.principal,
        request=call.params,
        response={"KeyMetadata": result["ReplicaKeyMetadata"]},
        resources=((replica.account, replica.arn),),
    )
    audit_store.append_checked(call.tx, [Entry(None, created, ctx.account).checked()])


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (replicate_key,)
