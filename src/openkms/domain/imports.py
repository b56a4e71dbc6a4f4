"""Imported key material (BYOK): import tokens, expiration and import-type rules.

AWS references: "Importing key material for AWS KMS keys" (developer guide pages
``importing-keys*``), and the API pages of GetParametersForImport, ImportKeyMaterial and
DeleteImportedKeyMaterial.

* A key created with Origin EXTERNAL starts PendingImport and has no material.
* GetParametersForImport gives a wrapping public key and an import token, valid 24
  hours and bound to that key and that wrapping key.
* ImportKeyMaterial: ExpirationModel defaults to KEY_MATERIAL_EXPIRES, which needs a
  ValidTo in the future and at most 365 days away; KEY_MATERIAL_DOES_NOT_EXPIRE takes
  no ValidTo. ImportType defaults to NEW_KEY_MATERIAL for the first import and to
  EXISTING_KEY_MATERIAL afterwards; ImportType, KeyMaterialId and
  KeyMaterialDescription are for symmetric encryption keys only.
* The KeyMaterialId of imported material is computed from the key id and the material,
  so re-imported material is recognised and different material is refused
  (IncorrectKeyMaterialException).
* Deleted or expired material leaves the key PendingImport (PendingDeletion stays);
  importing the same material again makes it usable, with every old ciphertext.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from openkms.domain.keys import (
    DAY_SECONDS,
    ExpirationModel,
    Key,
    KeyMaterial,
    KeySpec,
    KeyState,
    Origin,
)
from openkms.errors import (
    IncorrectKeyMaterialException,
    KMSInvalidStateException,
    UnsupportedOperationException,
    ValidationException,
)

IMPORT_TOKEN_LIFETIME = DAY_SECONDS
MAX_VALID_TO_DAYS = 365
#: What an import token's sealed payload starts with (format and version).
TOKEN_PREFIX = b"openkms-import-token/1\n"


class ImportType(StrEnum):
    NEW_KEY_MATERIAL = "NEW_KEY_MATERIAL"
    EXISTING_KEY_MATERIAL = "EXISTING_KEY_MATERIAL"


@dataclass(frozen=True, slots=True)
class ImportToken:
    """One GetParametersForImport answer: its wrapping private key is stored wrapped."""

    token_id: str
    key_id: str
    wrapping_algorithm: str
    wrapping_key_spec: str
    wrapped_private_key: bytes
    created_at: float
    valid_to: float

    def payload(self) -> bytes:
        """What the token blob seals: enough to answer without the row (expired tokens
        are purged, yet still recognised as expired rather than invalid)."""
        return TOKEN_PREFIX + f"{self.token_id}\n{self.key_id}\n{self.valid_to!r}".encode()


@dataclass(frozen=True, slots=True)
class TokenClaims:
    token_id: str
    key_id: str
    valid_to: float


def parse_payload(payload: bytes) -> TokenClaims | None:
    if not payload.startswith(TOKEN_PREFIX):
        return None
    parts = payload[len(TOKEN_PREFIX) :].decode("ascii", "replace").split("\n")
    if len(parts) != 3:
        return None
    try:
        return TokenClaims(parts[0], parts[1], float(parts[2]))
    except ValueError:
        return None


#: Key specs whose material can be imported ("Requirements for imported key material":
#: not Ed25519, ML-DSA or ML-KEM; SM2 exists only in AWS's China Regions).
IMPORTABLE_SPECS = frozenset(
    {
        KeySpec.SYMMETRIC_DEFAULT,
        KeySpec.HMAC_224,
        KeySpec.HMAC_256,
        KeySpec.HMAC_384,
        KeySpec.HMAC_512,
        KeySpec.RSA_2048,
        KeySpec.RSA_3072,
        KeySpec.RSA_4096,
        KeySpec.ECC_NIST_P256,
        KeySpec.ECC_NIST_P384,
        KeySpec.ECC_NIST_P521,
        KeySpec.ECC_SECG_P256K1,
    }
)
_OAEP = ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1")
_RSA_AES = ("RSA_AES_KEY_WRAP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1")


def wrapping_algorithms(spec: KeySpec) -> tuple[str, ...]:
    """The wrapping algorithms AWS lists for material of ``spec`` ("Select a wrapping
    algorithm"): RSA private keys need RSA_AES; symmetric and HMAC keys take RSAES_OAEP."""
    if spec.value.startswith("RSA_"):
        return _RSA_AES
    if spec.value.startswith("ECC_"):
        return _RSA_AES + _OAEP
    return _OAEP


def require_importable_spec(spec: KeySpec) -> None:
    """CreateKey with Origin EXTERNAL."""
    if spec not in IMPORTABLE_SPECS:
        raise UnsupportedOperationException(
            f"KMS keys with key spec {spec.value} cannot have imported key material "
            "(Origin EXTERNAL)."
        )


def require_wrapping_algorithm(key: Key, algorithm: str) -> None:
    allowed = wrapping_algorithms(key.spec)
    if algorithm not in allowed:
        raise ValidationException(
            f"WrappingAlgorithm {algorithm} cannot wrap key material for key spec "
            f"{key.spec.value}. Use one of: {', '.join(allowed)}."
        )


def require_external(key: Key) -> None:
    """The import operations work only on keys of EXTERNAL origin (AWS's message)."""
    if key.origin is not Origin.EXTERNAL:
        raise UnsupportedOperationException(
            f"{key.arn} origin is {key.origin.value} which is not valid for this operation."
        )


def require_importable_state(key: Key) -> None:
    """GetParametersForImport and ImportKeyMaterial: not while the key is pending deletion."""
    if key.state not in (KeyState.ENABLED, KeyState.DISABLED, KeyState.PENDING_IMPORT):
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.")


def expiration(params: Mapping[str, Any], now: float) -> tuple[ExpirationModel, float | None]:
    model = ExpirationModel(params.get("ExpirationModel", "KEY_MATERIAL_EXPIRES"))
    valid_to = params.get("ValidTo")
    if model is ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE:
        if valid_to is not None:
            raise ValidationException(
                "ValidTo must not be specified when ExpirationModel is "
                "KEY_MATERIAL_DOES_NOT_EXPIRE."
            )
        return model, None
    if valid_to is None:
        raise ValidationException(
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"
        )
    valid_to = float(valid_to)
    if valid_to <= now:
        raise ValidationException("ValidTo must be a date and time in the future.")
    if valid_to > now + MAX_VALID_TO_DAYS * DAY_SECONDS:
        raise ValidationException(
            f"ValidTo must be no more than {MAX_VALID_TO_DAYS} days from the request date."
        )
    return model, valid_to


def import_type(
    key: Key, materials: Sequence[KeyMaterial], params: Mapping[str, Any]
) -> ImportType:
    """Which kind of import the request is, after checking the parameters that choose it."""
    symmetric_only = [
        name for name in ("ImportType", "KeyMaterialId", "KeyMaterialDescription") if name in params
    ]
    if symmetric_only and key.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise ValidationException(
            f"{', '.join(symmetric_only)} can be used only with symmetric encryption KMS keys."
        )
    default = ImportType.EXISTING_KEY_MATERIAL if materials else ImportType.NEW_KEY_MATERIAL
    kind = ImportType(params.get("ImportType", default))
    if kind is ImportType.NEW_KEY_MATERIAL and "KeyMaterialId" in params:
        raise ValidationException(
            "KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL."
        )
    if kind is ImportType.EXISTING_KEY_MATERIAL and not materials:
        raise IncorrectKeyMaterialException(
            f"No key material has been imported into {key.arn} yet; import it with ImportType "
            "NEW_KEY_MATERIAL."
        )
    return kind


def require_nothing_pending(key: Key, materials: Sequence[KeyMaterial], material_id: str) -> None:
    """A NEW_KEY_MATERIAL import while other material waits to be rotated to; AWS's
    message names both materials, so this is checked once the new one is unwrapped."""
    for pending in materials:
        if pending.version > key.current_version and pending.present:
            raise KMSInvalidStateException(
                f"New key material (id: {material_id}) cannot be imported into KMS key "
                f"{key.arn}, because another key material (id: {pending.material_id}) is "
                "pending rotation."
            )


def matching_material(
    key: Key, materials: Sequence[KeyMaterial], material_id: str, requested_id: str | None
) -> KeyMaterial:
    """EXISTING_KEY_MATERIAL: the version the imported material belongs to."""
    if requested_id is not None and requested_id != material_id:
        raise IncorrectKeyMaterialException(
            f"The key material does not match the KeyMaterialId {requested_id}."
        )
    for material in associated(key, materials):
        if material.material_id == material_id:
            return material
    raise IncorrectKeyMaterialException(
        f"The key material is not the key material previously imported into {key.arn}."
    )


def reimported(
    material: KeyMaterial,
    wrapped: bytes,
    model: ExpirationModel,
    valid_to: float | None,
    description: str | None,
    now: float,
) -> KeyMaterial:
    return dataclasses.replace(
        material,
        wrapped=wrapped,
        expiration_model=model,
        valid_to=valid_to,
        description=material.description if description is None else description,
        imported_at=now,
    )


def without_material(material: KeyMaterial) -> KeyMaterial:
    """Deleted or expired: the bytes go, the version and its id stay."""
    return dataclasses.replace(material, wrapped=None, expiration_model=None, valid_to=None)


def with_state(key: Key, state: KeyState) -> Key:
    return dataclasses.replace(key, state=state)


def discarded(key: Key, material: KeyMaterial) -> bool:
    """Material that waited to be rotated to and was deleted (or expired) first. It was
    never used, so it is no longer associated with the key; its row stays only so that
    its version number is never given to other material (caches on every node are keyed
    by key id and version), until the next NEW_KEY_MATERIAL import replaces it."""
    return material.version > key.current_version and not material.present


def associated(key: Key, materials: Sequence[KeyMaterial]) -> list[KeyMaterial]:
    """The key's materials without discarded ones (what ListKeyRotations shows)."""
    return [m for m in materials if not discarded(key, m)]


def permanent(key: Key, materials: Sequence[KeyMaterial]) -> list[KeyMaterial]:
    """The material permanently associated with the key: every version it has used (up
    to the current one), not material waiting to be rotated to."""
    return [m for m in materials if m.version <= key.current_version]


def materials_complete(key: Key, materials: Sequence[KeyMaterial]) -> bool:
    """Whether every permanently associated material is imported (the key can work)."""
    needed = permanent(key, materials)
    return bool(needed) and all(m.present for m in needed)


def state_after_import(key: Key, materials: Sequence[KeyMaterial]) -> KeyState:
    """A PendingImport key becomes Enabled once every material it has ever used (up to
    the current version) is present again."""
    if key.state is not KeyState.PENDING_IMPORT:
        return key.state
    return KeyState.ENABLED if materials_complete(key, materials) else KeyState.PENDING_IMPORT


def state_after_cancelled_deletion(key: Key, materials: Sequence[KeyMaterial]) -> KeyState:
    """CancelKeyDeletion leaves a key Disabled, unless it lacks imported material: then it
    is PendingImport, as it would have been without the deletion."""
    if key.origin is Origin.EXTERNAL and not materials_complete(key, materials):
        return KeyState.PENDING_IMPORT
    return key.state


def expiry(
    key: Key, materials: Sequence[KeyMaterial]
) -> tuple[ExpirationModel, float | None] | None:
    """KeyMetadata's ExpirationModel and ValidTo: "the earliest time at which any imported
    key material permanently associated with this KMS key expires" (None: no material)."""
    present = [m for m in permanent(key, materials) if m.present]
    if not present:
        return None
    ends = [m.valid_to for m in present if m.valid_to is not None]
    if ends:
        return ExpirationModel.KEY_MATERIAL_EXPIRES, min(ends)
    return ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE, None


def state_after_material_loss(key: Key) -> KeyState:
    """Deleted or expired material: the key is unusable until it is imported again."""
    if key.state is KeyState.PENDING_DELETION:
        return key.state
    return KeyState.PENDING_IMPORT
