"""The usage rollup: request counts per day, account, key and billing class, and each
key's billable life, brought up to date from the audit trail incrementally.

Why a rollup and not a query per report: a report over a trail of ten million records
would read all of them each time. The rollup reads only the records after its watermark
(the last audit seq it counted), so each record is read once. Why not count as records
are written: the audit writer's commit path is the server's throughput limit (issue 12),
and nothing here is needed before a report is asked for. So the server's maintenance
loop (:mod:`openkms.server.maintenance_loop`) and ``openkms usage report`` call
:func:`roll_up`, which counts what is new in batches of :data:`BATCH` records:

1. in a snapshot read, the batch's records (the database says which are service events
   or one account's copy of a cross-account call; only records whose parameters matter
   are fetched whole) and the specs of the keys they name;
2. in a short write transaction that first locks the watermark (so two nodes, or a
   node and the command, never count a batch twice: the second finds the watermark
   moved and reads again), the counts are added, the keys' lives updated and the
   watermark moved. The read work holds no write lock, so the audit writer waits at most
   for the upserts of one batch.

What is counted (the pricing page's rules, :mod:`openkms.domain.billing`): successful
KMS API calls (a failed or throttled one is not billed); work KMS does on its own
(``AwsServiceEvent``: RotateKey, DeleteKey) is not a request but moves a key's life; a
cross-account call is counted once, for the caller's account (its owner's copy, the
record that shares its ``sharedEventID`` with the caller's, is skipped); the second
record of ReplicateKey (CreateKey in the replica's Region) and of UpdatePrimaryRegion
(in the new primary's Region) are not requests of their own.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from openkms.domain import billing, multi_region
from openkms.storage.audit import trail as audit_store
from openkms.storage.repository import Store, Tx
from openkms.storage.usage import repository as usage_records
from openkms.storage.usage.repository import UsageEvent

log = logging.getLogger("openkms.usage")

#: Records counted per write transaction.
BATCH = 5_000
#: Records a server's maintenance run counts at most: the backlog of a large trail (a
#: first start after the upgrade) is spread over several runs, so that due rotations and
#: deletions are never held up for long; ``openkms usage report`` counts the rest.
LOOP_LIMIT = 100_000
_KMS = "kms.amazonaws.com"
_DEFAULT_SPEC = ("SYMMETRIC_DEFAULT", "CUSTOMER")
#: Key specs remembered between batches of one roll-up (a key's spec never changes).
_KNOWN_LIMIT = 100_000


@dataclass
class _Plan:
    """What one batch adds: counts, keys seen for the first time, changes to key lives."""

    counts: Counter[tuple[int, str, str, str, str]] = field(default_factory=Counter)
    new_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: list[tuple[str, str, float | None]] = field(default_factory=list)


def roll_up(
    store: Store, *, batch: int = BATCH, limit: int | None = None, now: float | None = None
) -> int:
    """Count the audit records after the watermark (at most about ``limit``, whole
    batches); returns how many were counted."""
    counted = 0
    known: dict[str, tuple[str, str]] = {}
    while limit is None or counted < limit:
        with store.transaction(snapshot=True) as tx:
            after = usage_records.watermark(tx)
            head, _ = audit_store.read_head(tx)
            if head <= after:
                return counted
            upto = min(head, after + batch)
            plan = _plan(tx, usage_records.events(tx, after, upto), known)
        with store.transaction(write=True, changes_state=False) as tx:
            if usage_records.lock_watermark(tx, time.time()) != after:
                continue  # another roll-up counted these records meanwhile: read again
            usage_records.insert_keys(tx, plan.new_keys.values())
            for change, arn, at in plan.changes:
                usage_records.key_changed(tx, change, arn, at)
            usage_records.add_counts(tx, plan.counts)
            usage_records.set_watermark(tx, upto, time.time() if now is None else now)
        counted += upto - after
        if len(known) > _KNOWN_LIMIT:
            known.clear()
    return counted


def _plan(tx: Tx, events: list[UsageEvent], known: dict[str, tuple[str, str]]) -> _Plan:
    plan = _Plan()
    for event in events:
        if event.event_source != _KMS:
            continue
        details = _details(event)
        arn = event.key_arns[0] if event.key_arns else _created_key(details)
        spec = _register(tx, plan, known, arn, event, details) if arn else None
        if event.service_event:
            if event.event_name == "DeleteKey" and arn:
                plan.changes.append(("deleted", arn, event.event_time))
            elif event.event_name == "RotateKey" and arn:
                plan.changes.append(("rotated", arn, event.event_time))
            continue
        if event.error_code is not None or _not_a_request(event, arn, details):
            continue
        if event.event_name == "ScheduleKeyDeletion" and arn:
            plan.changes.append(("scheduled", arn, event.event_time))
        elif event.event_name == "CancelKeyDeletion" and arn:
            plan.changes.append(("scheduled", arn, None))
        request = details.get("requestParameters") or {}
        pair_spec = request.get("keyPairSpec") if isinstance(request, dict) else None
        billing_class = billing.classify(
            event.event_name, spec, pair_spec if isinstance(pair_spec, str) else None
        )
        day = billing.day_of(event.event_time)
        plan.counts[(day, event.account_id, event.region, arn, billing_class.value)] += 1
    return plan


def _details(event: UsageEvent) -> dict[str, Any]:
    if event.detail is None:
        return {}
    try:
        found = json.loads(event.detail)
    except ValueError:
        return {}  # the chain check (openkms audit verify) reports a damaged record
    return found if isinstance(found, dict) else {}


def _not_a_request(event: UsageEvent, arn: str, details: dict[str, Any]) -> bool:
    """The record is not a billed request of its own (see the module docstring)."""
    if event.shared and arn and _arn_part(arn, 4) == event.account_id:
        return True  # the key owner's copy of a cross-account call
    request = details.get("requestParameters")
    if not isinstance(request, dict):
        return False
    if event.event_name == "CreateKey" and "replicaRegion" in request:
        return True
    return bool(
        event.event_name == "UpdatePrimaryRegion" and request.get("primaryRegion") == event.region
    )


def _register(
    tx: Tx,
    plan: _Plan,
    known: dict[str, tuple[str, str]],
    arn: str,
    event: UsageEvent,
    details: dict[str, Any],
) -> str:
    """The key's spec; registers a key seen for the first time (its spec and manager
    from the key table while it exists, else from its CreateKey record)."""
    found = known.get(arn)
    if found is None:
        found = usage_records.known_key(tx, arn)
    if found is None and arn in plan.new_keys:
        row = plan.new_keys[arn]
        found = (row["key_spec"], row["key_manager"])
    if found is None:
        created_at = event.event_time
        stored = usage_records.stored_key(tx, _stored_id(arn))
        if stored is not None:
            found = (stored[0], stored[1])
            if event.event_name != "CreateKey":  # else the record's time, as the others'
                created_at = stored[2]
        else:
            found = _spec_from_record(details) or _DEFAULT_SPEC
        plan.new_keys[arn] = {
            "key_arn": arn,
            "account_id": _arn_part(arn, 4),
            "region": _arn_part(arn, 3),
            "key_spec": found[0],
            "key_manager": found[1],
            "created_at": created_at,
            "scheduled_at": None,
            "deleted_at": None,
            "rotations": 0,
            "rotation1_at": None,
            "rotation2_at": None,
        }
    known[arn] = found
    return found[0]


def _created_key(details: dict[str, Any]) -> str:
    """The new key's ARN in a CreateKey record (its ``resources`` name none)."""
    response = details.get("responseElements")
    metadata = response.get("keyMetadata") if isinstance(response, dict) else None
    arn = metadata.get("arn") if isinstance(metadata, dict) else None
    return arn if isinstance(arn, str) else ""


def _spec_from_record(details: dict[str, Any]) -> tuple[str, str] | None:
    response = details.get("responseElements")
    metadata = response.get("keyMetadata") if isinstance(response, dict) else None
    if not isinstance(metadata, dict):
        return None
    spec, manager = metadata.get("keySpec"), metadata.get("keyManager")
    if not isinstance(spec, str):
        return None
    return spec, manager if isinstance(manager, str) else "CUSTOMER"


def _arn_part(arn: str, index: int) -> str:
    parts = arn.split(":", 5)
    return parts[index] if len(parts) == 6 else ""


def _stored_id(arn: str) -> str:
    """The stored id of the key an ARN names (a multi-Region key's carries its Region)."""
    key_id = arn.rsplit("/", 1)[-1]
    return multi_region.record_id(key_id, _arn_part(arn, 3))
