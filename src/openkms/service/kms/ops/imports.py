"""Imported key material: GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial. The rules are in :mod:`openkms.domain.imports`; wrapping and
unwrapping in :mod:`openkms.crypto.importing`."""

from __future__ import annotations

import uuid

from openkms.crypto import contexts, importing
from openkms.crypto.keyring import UnwrapError
from openkms.domain import imports
from openkms.domain.imports import ImportToken, ImportType
from openkms.domain.keys import Key, KeyMaterial
from openkms.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidImportTokenException,
    KMSInternalException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
)
from openkms.service.kms import multi_region_sync
from openkms.service.kms.call import OperationCall
from openkms.service.kms.registry import operation
from openkms.storage.keys import lifecycle
from openkms.storage.keys import repository as key_records
from openkms.wire.shapes import (
    DeleteImportedKeyMaterialRequest,
    DeleteImportedKeyMaterialResponse,
    GetParametersForImportRequest,
    GetParametersForImportResponse,
    ImportKeyMaterialRequest,
    ImportKeyMaterialResponse,
)


def imported_material_id(call: OperationCall[object], key: Key, material: bytes) -> str:
    """AWS: "KMS assigns a unique identifier to the key material based on the KMS key ID
    and the imported key material". Ours is keyed under the root of trust."""
    # Computed from the key id callers see: related multi-Region keys, which must hold
    # the same imported material, give it the same id.
    context = contexts.imported_material(key.public_id)
    return call.keyring.fingerprint(material, context).hex()


def _prepare_wrapping_key(
    stock: importing.WrappingKeyStock, p: GetParametersForImportRequest
) -> tuple[bytes, bytes] | None:
    """A wrapping key pair taken before the transaction opens: when a burst has used up
    the ready ones, making one (RSA-4096: 0.1-2 s) must not hold the write lock."""
    spec = p.get("WrappingKeySpec")
    if spec not in importing.WRAPPING_KEY_BITS:
        return None
    return stock.take(spec)


@operation("GetParametersForImport", writes=True, prepare=_prepare_wrapping_key, slow=True)
def get_parameters_for_import(
    call: OperationCall[GetParametersForImportRequest],
) -> GetParametersForImportResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html"""
    key = call.key
    imports.require_external(key)
    imports.require_importable_state(key)
    p = call.params
    algorithm, spec = p["WrappingAlgorithm"], p["WrappingKeySpec"]
    if algorithm not in importing.WRAPPING_ALGORITHMS:
        raise UnsupportedOperationException(
            f"WrappingAlgorithm {algorithm} is not supported. "
            + (
                "AWS KMS no longer supports RSAES_PKCS1_V1_5 (since October 10, 2023)."
                if algorithm == "RSAES_PKCS1_V1_5"
                else "SM2PKE is available only in AWS's China Regions."
            )
        )
    if spec not in importing.WRAPPING_KEY_BITS:
        raise UnsupportedOperationException(
            f"WrappingKeySpec {spec} is available only in AWS's China Regions."
        )
    imports.require_wrapping_algorithm(key, algorithm)
    pair = call.prepared
    if isinstance(pair, tuple):
        private_der, public_der = pair
    else:
        private_der, public_der = call.wrapping_keys.take(spec)
    now = call.ctx.now
    token_id = uuid.uuid4().hex
    token = ImportToken(
        token_id=token_id,
        key_id=key.key_id,
        wrapping_algorithm=algorithm,
        wrapping_key_spec=spec,
        wrapped_private_key=call.keyring.wrap(
            private_der, contexts.import_wrapping_key(token_id, key.key_id)
        ),
        created_at=now,
        valid_to=now + imports.IMPORT_TOKEN_LIFETIME,
    )
    lifecycle.insert_import_token(call.tx, token)
    return {
        "KeyId": key.arn,
        "ImportToken": call.keyring.wrap(token.payload(), contexts.IMPORT_TOKEN),
        "PublicKey": public_der,
        "ParametersValidTo": token.valid_to,
    }


def _token(call: OperationCall[ImportKeyMaterialRequest], key: Key) -> ImportToken:
    """The import token of the request, checked: ours, for this key, not expired."""
    sealed = call.blob(call.params["ImportToken"], "ImportToken")
    try:
        payload = call.keyring.unwrap(sealed, contexts.IMPORT_TOKEN)
    except UnwrapError:
        raise InvalidImportTokenException("The import token is not valid.") from None
    claims = imports.parse_payload(payload)
    if claims is None or claims.key_id != key.key_id:
        raise InvalidImportTokenException(
            f"The import token is not valid for {key.arn}. Use the import token from the "
            "GetParametersForImport response for this KMS key."
        )
    if claims.valid_to <= call.ctx.now:
        raise ExpiredImportTokenException(
            "The import token has expired. Call GetParametersForImport for a new public key "
            "and import token."
        )
    token = lifecycle.get_import_token(call.tx, claims.token_id)
    if token is None or token.key_id != key.key_id:
        raise InvalidImportTokenException(
            "The import token is not valid: each import token can be used for one import. "
            "Call GetParametersForImport for a new public key and import token."
        )
    return token


def _unwrapped_material(
    call: OperationCall[ImportKeyMaterialRequest], key: Key, token: ImportToken
) -> bytes:
    try:
        private_der = call.keyring.unwrap(
            token.wrapped_private_key, contexts.import_wrapping_key(token.token_id, key.key_id)
        )
    except UnwrapError:
        raise KMSInternalException("a stored wrapping key failed to unwrap") from None
    encrypted = call.blob(call.params["EncryptedKeyMaterial"], "EncryptedKeyMaterial")
    material = importing.unwrap_material(private_der, token.wrapping_algorithm, encrypted)
    return importing.canonical_material(key.spec.value, material)


@operation("ImportKeyMaterial", writes=True, slow=True)
def import_key_material(
    call: OperationCall[ImportKeyMaterialRequest],
) -> ImportKeyMaterialResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html"""
    key = call.key
    imports.require_external(key)
    imports.require_importable_state(key)
    p, now = call.params, call.ctx.now
    token = _token(call, key)
    model, valid_to = imports.expiration(p, now)
    materials = key_records.list_materials(call.tx, key.key_id)
    kind = None if key.multi_region else imports.import_type(key, materials, p)
    material = _unwrapped_material(call, key, token)
    material_id = imported_material_id(call, key, material)
    if kind is None:  # a multi-Region key: the material a related key already has, if any
        new = p.get("ImportType") == ImportType.NEW_KEY_MATERIAL.value
        materials = multi_region_sync.related_import(
            call.tx, call.keyring, key, materials, material, material_id, new=new
        )
        kind = imports.import_type(key, materials, p)
    keyring = call.keyring
    if kind is ImportType.NEW_KEY_MATERIAL:
        if any(m.material_id == material_id for m in imports.associated(key, materials)):
            raise IncorrectKeyMaterialException(
                f"This key material is already associated with {key.arn}; import it with "
                "ImportType EXISTING_KEY_MATERIAL."
            )
        imports.require_nothing_pending(key, materials, material_id)
        # Version numbers are never reused (see imports.discarded): the new version is
        # above every row, after which discarded rows can go.
        version = max((m.version for m in materials), default=0) + 1
        for gone in materials:
            if imports.discarded(key, gone):
                key_records.delete_material(call.tx, key.key_id, gone.version)
        materials = imports.associated(key, materials)
        stored = KeyMaterial(
            key_id=key.key_id,
            version=version,
            material_id=material_id,
            wrapped=keyring.wrap(material, contexts.key_material(key.key_id, version)),
            created_at=now,
            expiration_model=model,
            valid_to=valid_to,
            description=p.get("KeyMaterialDescription"),
            imported_at=now,
        )
        key_records.insert_material(call.tx, stored)
        materials = [*materials, stored]
    else:
        found = imports.matching_material(key, materials, material_id, p.get("KeyMaterialId"))
        stored = imports.reimported(
            found,
            keyring.wrap(material, contexts.key_material(key.key_id, found.version)),
            model,
            valid_to,
            p.get("KeyMaterialDescription"),
            now,
        )
        key_records.update_material(call.tx, stored)
        materials = [stored if m.version == stored.version else m for m in materials]
    state = imports.state_after_import(key, materials)
    if state is not key.state:
        key_records.update_key(call.tx, imports.with_state(key, state))
    # One token, one import: its wrapping private key is gone once the material is in.
    lifecycle.delete_import_token(call.tx, token.token_id)
    return {"KeyId": key.arn, "KeyMaterialId": material_id}


@operation("DeleteImportedKeyMaterial", writes=True)
def delete_imported_key_material(
    call: OperationCall[DeleteImportedKeyMaterialRequest],
) -> DeleteImportedKeyMaterialResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteImportedKeyMaterial.html

    Material waiting to be rotated to (never used) is discarded and the key's state does
    not change; material that is or was current loses its bytes and the key becomes
    PendingImport until the same material is imported again."""
    key = call.key
    imports.require_external(key)
    materials = imports.associated(key, key_records.list_materials(call.tx, key.key_id))
    if not materials:
        raise KMSInvalidStateException(f"{key.arn} is pending import.")
    requested = call.params.get("KeyMaterialId")
    if requested is None:
        target = next((m for m in materials if m.version == key.current_version), None)
    else:
        target = next((m for m in materials if m.material_id == requested), None)
    if target is None:
        raise NotFoundException(f"Key material {requested} is not associated with {key.arn}.")
    key_records.update_material(call.tx, imports.without_material(target))
    if key.multi_region and target.version > key.current_version:  # and from the replicas
        gone = multi_region_sync.discard_pending(call.tx, key, target.version)
        call.after_commit.append(lambda: call.materials.forget(*gone))
    if target.version <= key.current_version:
        state = imports.state_after_material_loss(key)
        if state is not key.state:
            key_records.update_key(call.tx, imports.with_state(key, state))
    call.after_commit.append(lambda: call.materials.forget(key.key_id))
    return {"KeyId": key.arn, "KeyMaterialId": target.material_id}


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    get_parameters_for_import,
    import_key_material,
    delete_imported_key_material,
)
