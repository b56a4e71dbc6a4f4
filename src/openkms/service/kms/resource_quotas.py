"""Resource quotas, checked inside the write transaction that would exceed them.

AWS's values are :data:`openkms.domain.quotas.RESOURCE_DEFAULTS`; an override stored with
``openkms admin quota set`` (for the account, else for ``*``) replaces one. Over a quota,
the request is refused with ``LimitExceededException`` ("If you have exceeded a resource
limit, requests to create an additional resource of that type generate an
LimitExceededException error message",
https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html). Each check is
one COUNT on an indexed column, on operations that write anyway.
"""

from __future__ import annotations

from openkms.domain import quotas
from openkms.domain.keys import Key, KeyManager
from openkms.errors import LimitExceededException
from openkms.storage.quotas import repository as quota_records
from openkms.storage.repository import Tx


def limit(tx: Tx, account: str, quota: str) -> int:
    """The resource quota ``quota`` of ``account``: its override, ``*``'s, or AWS's."""
    found = quota_records.overrides(tx)
    rate = found.get((account, quota), found.get((quota_records.EVERY_ACCOUNT, quota)))
    return int(rate) if rate is not None else quotas.RESOURCE_DEFAULTS[quota]


def check_new_key(tx: Tx, account: str, region: str) -> None:
    """A new customer managed key (CreateKey, a ReplicateKey's replica) fits the quota."""
    most = limit(tx, account, quotas.KEYS_PER_REGION)
    if quota_records.customer_keys(tx, account, region) >= most:
        raise LimitExceededException(
            f"The request was rejected because account {account} has reached the quota of "
            f"{most} KMS keys in {region}."
        )


def check_new_alias(tx: Tx, key: Key) -> None:
    """One more alias may name ``key`` (CreateAlias, UpdateAlias to a new key)."""
    if key.manager is not KeyManager.CUSTOMER:
        return  # AWS: aliases of AWS managed keys do not count
    most = limit(tx, key.account, quotas.ALIASES_PER_KEY)
    if quota_records.aliases_of_key(tx, key.key_id) >= most:
        raise LimitExceededException(
            f"The request was rejected because {key.arn} has reached the quota of {most} "
            "aliases per KMS key."
        )


def check_new_grant(tx: Tx, key: Key, grantee: str, grants_on_key: int) -> None:
    """One more grant fits on ``key``, and for ``grantee`` on it (CreateGrant)."""
    most = limit(tx, key.account, quotas.GRANTS_PER_KEY)
    if grants_on_key >= most:
        raise LimitExceededException(
            f"The request was rejected because {key.arn} has reached the quota of {most} "
            "grants per KMS key."
        )
    most = limit(tx, key.account, quotas.GRANTS_PER_PRINCIPAL_PER_KEY)
    if quota_records.grants_for_grantee(tx, key.key_id, grantee) >= most:
        raise LimitExceededException(
            f"The request was rejected because {key.arn} has reached the quota of {most} "
            f"grants for the grantee principal {grantee}."
        )
