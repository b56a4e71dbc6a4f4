"""Turn a key identifier from a request into the key it names, as AWS does.

Key ids, key ARNs, alias names and alias ARNs all resolve
(https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id).
An ARN in another region never resolves: regions are separate partitions.
"""

from __future__ import annotations

from openkms.domain import multi_region
from openkms.domain.identifiers import RefKind, alias_arn, parse_key_ref
from openkms.domain.keys import Key, key_arn
from openkms.errors import InvalidArnException, NotFoundException
from openkms.service.context import RequestContext
from openkms.storage.keys import repository as key_records
from openkms.storage.repository import Tx


def resolve_key(
    tx: Tx,
    ctx: RequestContext,
    identifier: str,
    *,
    for_update: bool = False,
    allow_alias: bool = True,
) -> Key:
    ref = parse_key_ref(identifier)
    if ref.kind is RefKind.ALIAS and not allow_alias:
        raise InvalidArnException("Key Aliases are not supported for this operation.")
    account = ref.account or ctx.account
    region = ref.region or ctx.region
    if region != ctx.region:
        # AWS answers an ARN from another region this way (regions are separate services).
        raise NotFoundException(f"Invalid arn {region}")
    if ref.kind is RefKind.ALIAS:
        alias = key_records.get_alias(tx, account, region, ref.name)
        if alias is None:
            raise NotFoundException(f"Alias {alias_arn(region, account, ref.name)} is not found.")
        key_id = alias.target_key_id
    else:
        key_id = multi_region.record_id(ref.name, region)
    key = key_records.get_key(tx, key_id, for_update=for_update)
    if key is None or key.account != account or key.region != region:
        raise NotFoundException(f"Key '{key_arn(region, account, ref.name)}' does not exist")
    return key
