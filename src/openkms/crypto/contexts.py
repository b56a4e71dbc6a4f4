"""Every keyring binding label: the context bytes that tie a sealed secret to its owner.

The keyring (:mod:`openkms.crypto.keyring`) authenticates each wrapped value, and each
fingerprint, together with a caller-given context, so a value sealed for one owner does
not unseal for another (a stored secret copied to another row fails as tampering). The
labels live here, one function or constant per binding, so that they are seen side by
side and cannot collide.

The bytes are part of the storage format: values already sealed in existing databases
unseal only under exactly these bytes, and ``tests/crypto/test_contexts.py`` pins each
one (known answers). A new binding gets a new, distinct label here; an existing label
never changes. (The labels grew under three naming schemes, ``kms-…:``, ``openkms-…``
and bare names; they are kept as they are, byte for byte.)

======================================  ============================================  ==============
label                                   binds                                          sealed by
======================================  ============================================  ==============
``key_material(key_id, version)``       a KMS key's backing key material, per          wrap
                                        version (generated, rotated or imported)
``imported_material(key_id)``           the id of imported key material to its KMS     fingerprint
                                        key (so re-importing is recognised)
``IMPORT_TOKEN``                        a GetParametersForImport import token          wrap
``import_wrapping_key(token, key_id)``  that token's RSA wrapping private key, to the  wrap
                                        token and its KMS key
``access_key_secret(access_key_id)``    a long-term access key's secret (root and IAM  wrap
                                        users)
``session_secret(access_key_id)``       an STS session's secret key                    wrap
``AUDIT_SIGNING_KEY``                   the audit trail's digest signing private key   wrap
``ROOT_KEY_CHECK``                      the check value that proves the root key is    wrap
                                        the one the database was created under
``FINGERPRINT_KEY``                     the key of the keyring's fingerprints, when     wrap
                                        kept sealed (HSM roots, rewrapped databases)
``lookup_token(binding)``               a CloudTrail LookupEvents NextToken, to the    wrap
                                        account and the request's other parameters
``xks_key_material(key_id)``            an XKS proxy external key's AES-256 key        wrap
``xks_credential_secret(access_key_id)``  a stored XKS proxy SigV4 credential's secret  wrap
``custom_key_store_password(store_id)``  an AWS_CLOUDHSM store's token PIN           wrap
``xks_proxy_secret(store_id)``          an EXTERNAL_KEY_STORE store's XKS proxy        wrap
                                        secret access key
======================================  ============================================  ==============
"""

from __future__ import annotations

__all__ = [
    "AUDIT_SIGNING_KEY",
    "FINGERPRINT_KEY",
    "IMPORT_TOKEN",
    "LOOKUP_TOKEN_PREFIX",
    "ROOT_KEY_CHECK",
    "access_key_secret",
    "custom_key_store_password",
    "import_wrapping_key",
    "imported_material",
    "key_material",
    "lookup_token",
    "session_secret",
    "xks_credential_secret",
    "xks_key_material",
    "xks_proxy_secret",
]


def key_material(key_id: str, version: int) -> bytes:
    """Binds a wrapped backing key to its KMS key and version."""
    return f"kms-key-material:{key_id}:{version}".encode()


def imported_material(key_id: str) -> bytes:
    """Binds the fingerprint that names imported key material to its KMS key."""
    return f"kms-imported-material:{key_id}".encode()


#: Binds an import token (GetParametersForImport) sealed into the ImportToken blob.
IMPORT_TOKEN = b"kms-import-token"


def import_wrapping_key(token_id: str, key_id: str) -> bytes:
    """Binds an import's wrapping private key to its import token and KMS key."""
    return f"kms-import-wrapping-key:{token_id}:{key_id}".encode()


def access_key_secret(access_key_id: str) -> bytes:
    """Binds a long-term access key's secret (root and IAM users alike) to its key id."""
    return b"access-key-secret:" + access_key_id.encode()


def custom_key_store_password(store_id: str) -> bytes:
    """Binds a custom key store's password (an AWS_CLOUDHSM store's token PIN) to its store."""
    return b"custom-key-store-password:" + store_id.encode()


def xks_proxy_secret(store_id: str) -> bytes:
    """Binds an external key store's XKS proxy secret access key to its store."""
    return b"xks-proxy-secret:" + store_id.encode()


def session_secret(access_key_id: str) -> bytes:
    """Binds an STS session's secret key to its access key id (distinct from long-term
    keys', so neither can stand in for the other)."""
    return b"sts-session-secret:" + access_key_id.encode()


#: Binds the audit trail's digest signing private key (stored in the meta table).
AUDIT_SIGNING_KEY = b"audit-signing-key"

#: Binds the root-key check value stored at initialisation.
ROOT_KEY_CHECK = b"openkms-root-key-check"

#: Binds the keyring's fingerprint key where it is stored sealed (openkms.server.root_of_trust).
FINGERPRINT_KEY = b"openkms-fingerprint-key"

#: The fixed part of a CloudTrail LookupEvents NextToken's label; NUL-terminated so the
#: variable part that follows cannot extend it.
LOOKUP_TOKEN_PREFIX = b"openkms-cloudtrail-lookup-token/1\x00"


def lookup_token(binding: bytes) -> bytes:
    """Binds a LookupEvents NextToken to ``binding`` (the account and the request's
    other parameters, encoded by the caller), so it is refused for any other request."""
    return LOOKUP_TOKEN_PREFIX + binding


def xks_key_material(key_id: str) -> bytes:
    """Binds an XKS proxy external key's material to its externalKeyId."""
    return b"xks-key-material:" + key_id.encode()


def xks_credential_secret(access_key_id: str) -> bytes:
    """Binds a stored XKS proxy credential's secret to its access key id (distinct from
    KMS access keys': neither can stand in for the other)."""
    return b"xks-credential-secret:" + access_key_id.encode()
