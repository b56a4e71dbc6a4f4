"""KMS keys: identity, specs, states and the state machine that AWS documents.

A :class:`Key` is a frozen value; every change produces a new value through one of
the transition functions below, which raise the AWS error a caller would get from
the real service ("Key states of AWS KMS keys",
https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from openkms.errors import (
    DisabledException,
    KMSInvalidStateException,
    ValidationException,
)

DAY_SECONDS = 86_400


class KeyState(StrEnum):
    CREATING = "Creating"
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"
    UNAVAILABLE = "Unavailable"
    UPDATING = "Updating"


class KeySpec(StrEnum):
    SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECC_NIST_P256 = "ECC_NIST_P256"
    ECC_NIST_P384 = "ECC_NIST_P384"
    ECC_NIST_P521 = "ECC_NIST_P521"
    ECC_SECG_P256K1 = "ECC_SECG_P256K1"
    ECC_NIST_EDWARDS25519 = "ECC_NIST_EDWARDS25519"
    ML_DSA_44 = "ML_DSA_44"
    ML_DSA_65 = "ML_DSA_65"
    ML_DSA_87 = "ML_DSA_87"
    HMAC_224 = "HMAC_224"
    HMAC_256 = "HMAC_256"
    HMAC_384 = "HMAC_384"
    HMAC_512 = "HMAC_512"
    SM2 = "SM2"
    ML_KEM_512 = "ML_KEM_512"
    ML_KEM_768 = "ML_KEM_768"
    ML_KEM_1024 = "ML_KEM_1024"


class KeyUsage(StrEnum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
    KEY_AGREEMENT = "KEY_AGREEMENT"
    ENCAPSULATE_DECAPSULATE = "ENCAPSULATE_DECAPSULATE"


class Origin(StrEnum):
    AWS_KMS = "AWS_KMS"
    EXTERNAL = "EXTERNAL"
    AWS_CLOUDHSM = "AWS_CLOUDHSM"
    EXTERNAL_KEY_STORE = "EXTERNAL_KEY_STORE"


class KeyManager(StrEnum):
    CUSTOMER = "CUSTOMER"
    AWS = "AWS"


def key_arn(region: str, account: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


@dataclass(frozen=True, slots=True)
class Key:
    """One KMS key (its metadata; material lives in :class:`KeyMaterial` versions)."""

    key_id: str
    account: str
    region: str
    spec: KeySpec
    usage: KeyUsage
    origin: Origin
    manager: KeyManager
    state: KeyState
    description: str
    policy: str
    created_at: float
    current_version: int
    deletion_date: float | None = None
    pending_window_days: int | None = None
    multi_region: bool = False
    rotation_enabled: bool = False
    rotation_period_days: int | None = None
    next_rotation_date: float | None = None
    #: When the on-demand rotation now in progress was asked for (None: none is).
    on_demand_rotation_started: float | None = None
    #: Multi-Region keys: the Region of the primary key (None: a single-Region key).
    primary_region: str | None = None
    #: Multi-Region keys: when transient work on this key (a replica's ``Creating``, an
    #: ``Updating`` primary Region change) is due to be finished by maintenance.
    sync_due: float | None = None
    #: Keys in a custom key store (Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE): the store's
    #: id. Their backing key lives in the store (:mod:`openkms.domain.custom_key_stores`).
    custom_key_store_id: str | None = None
    #: Origin EXTERNAL_KEY_STORE: the external key (``XksKeyId``) its XKS proxy encrypts
    #: with, after the key's own material (double encryption).
    xks_key_id: str | None = None

    #: The key id callers see. ``key_id`` is the stored identity, which for a
    #: multi-Region key names its Region too (related keys share the public id:
    #: :mod:`openkms.domain.multi_region`).
    public_id: str = dataclasses.field(init=False, repr=False, compare=False)
    #: The key's ARN (from its Region, account and public id). Both are derived once,
    #: when the value is made: a request reads the ARN several times (authorization,
    #: the answer, the audit record).
    arn: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key_id = self.key_id
        public_id = key_id if "@" not in key_id else key_id.split("@", 1)[0]
        object.__setattr__(self, "public_id", public_id)
        object.__setattr__(self, "arn", key_arn(self.region, self.account, public_id))

    @property
    def enabled(self) -> bool:
        return self.state is KeyState.ENABLED


class RotationType(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    ON_DEMAND = "ON_DEMAND"


class ExpirationModel(StrEnum):
    KEY_MATERIAL_EXPIRES = "KEY_MATERIAL_EXPIRES"
    KEY_MATERIAL_DOES_NOT_EXPIRE = "KEY_MATERIAL_DOES_NOT_EXPIRE"


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """One backing-key version of a key. ``wrapped`` is sealed under the root of trust.

    Generated material is never removed while its key exists. Imported material
    (``imported_at`` set) can be deleted or expire: ``wrapped`` is then None and the
    version waits for the same material to be imported again."""

    key_id: str
    version: int
    material_id: str
    wrapped: bytes | None
    created_at: float
    rotation_type: RotationType | None = None
    rotated_at: float | None = None
    expiration_model: ExpirationModel | None = None
    valid_to: float | None = None
    description: str | None = None
    imported_at: float | None = None

    @property
    def imported(self) -> bool:
        return self.imported_at is not None

    @property
    def present(self) -> bool:
        return self.wrapped is not None


def require_usable(key: Key) -> None:
    """Raise the AWS error for a cryptographic operation on a key that is not Enabled.
    An ``Updating`` multi-Region key (its primary Region changing, which starts only from
    ``Enabled``) stays usable, as AWS documents."""
    if key.state is KeyState.ENABLED or key.state is KeyState.UPDATING:
        return
    if key.state is KeyState.DISABLED:
        raise DisabledException(f"{key.arn} is disabled.")
    raise KMSInvalidStateException(_state_phrase(key))


def require_manageable(key: Key) -> None:
    """Management operations (describe, tag, alias, ...) work on every state but PendingDeletion
    for the ones AWS refuses there; callers pick this check where AWS does."""
    if key.state is KeyState.PENDING_DELETION:
        raise KMSInvalidStateException(_state_phrase(key))


def _state_phrase(key: Key) -> str:
    phrases = {
        KeyState.PENDING_DELETION: "is pending deletion",
        KeyState.PENDING_IMPORT: "is pending import",
        KeyState.DISABLED: "is disabled",
        KeyState.UNAVAILABLE: "is unavailable",
        KeyState.CREATING: "is being created",
        KeyState.UPDATING: "is being updated",
        KeyState.PENDING_REPLICA_DELETION: "is pending replica deletion",
    }
    return f"{key.arn} {phrases.get(key.state, 'is not in a valid state')}."


def enable(key: Key) -> Key:
    if key.state in (KeyState.ENABLED, KeyState.DISABLED):
        return dataclasses.replace(key, state=KeyState.ENABLED)
    raise KMSInvalidStateException(_state_phrase(key))


def disable(key: Key) -> Key:
    if key.state in (KeyState.ENABLED, KeyState.DISABLED):
        return dataclasses.replace(key, state=KeyState.DISABLED)
    raise KMSInvalidStateException(_state_phrase(key))


MIN_PENDING_WINDOW_DAYS, MAX_PENDING_WINDOW_DAYS = 7, 30


def schedule_deletion(key: Key, window_days: int, now: float) -> Key:
    """AWS accepts a 7–30 day window (stricter than its API model's 1–365)."""
    if not MIN_PENDING_WINDOW_DAYS <= window_days <= MAX_PENDING_WINDOW_DAYS:
        raise ValidationException(
            f"PendingWindowInDays must be between {MIN_PENDING_WINDOW_DAYS} "
            f"and {MAX_PENDING_WINDOW_DAYS}"
        )
    if key.state is KeyState.PENDING_DELETION:
        raise KMSInvalidStateException(_state_phrase(key))
    if key.state not in (KeyState.ENABLED, KeyState.DISABLED, KeyState.PENDING_IMPORT):
        raise KMSInvalidStateException(_state_phrase(key))
    return dataclasses.replace(
        key,
        state=KeyState.PENDING_DELETION,
        deletion_date=now + window_days * DAY_SECONDS,
        pending_window_days=window_days,
    )


def cancel_deletion(key: Key) -> Key:
    """CancelKeyDeletion leaves the key Disabled, as AWS does (also a multi-Region primary
    still waiting for its replicas' deletion)."""
    if key.state not in (KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION):
        raise KMSInvalidStateException(f"{key.arn} is not pending deletion.")
    return dataclasses.replace(
        key, state=KeyState.DISABLED, deletion_date=None, pending_window_days=None
    )


def with_description(key: Key, description: str) -> Key:
    return dataclasses.replace(key, description=description)


def with_policy(key: Key, policy: str) -> Key:
    return dataclasses.replace(key, policy=policy)
