"""The ciphertext of a key in an external key store: double encryption, in our blob.

AWS encrypts with such a key twice ("double encryption", Developer Guide, "KMS keys in
external key stores"): first with the KMS key's own material, inside KMS, then with the
external key, by the XKS proxy; decryption undoes them in the reverse order, so neither
side alone can read the data. OpenKMS does the same with its own blob
(:mod:`openkms.domain.ciphertext`):

1. the KMS key's material seals the plaintext as for any symmetric key: ``header ||
   c1 || t1``, the encryption context bound by the AAD as always;
2. the proxy encrypts ``c1 || t1`` under the external key with the 50-byte header as its
   AAD (so the proxy's layer is bound to the key id, key version, nonce and IV too);
3. the blob is the same header followed by this envelope instead of ``c1 || t1``::

       offset    size  field
       0         1     envelope format version: 1
       1         1     n, the proxy's IV length (12 or 16)
       2         n     the proxy's initializationVector
       2+n       1     m, the ciphertextMetadata length (0..20; 0: none returned)
       3+n       m     the proxy's ciphertextMetadata
       3+n+m     16    the proxy's authenticationTag
       19+n+m    rest  the proxy's ciphertext (as long as ``c1 || t1``)

The header still names the key and the material version, so Decrypt without KeyId finds
the key as for any blob; the version byte is read before anything else, and any
malformation is one opaque InvalidCiphertextException.
"""

from __future__ import annotations

from dataclasses import dataclass

from openkms.domain import xks
from openkms.errors import InvalidCiphertextException

VERSION = 1


@dataclass(frozen=True, slots=True)
class ProxyCiphertext:
    """What an XKS proxy's Encrypt answered (and its Decrypt takes back)."""

    ciphertext: bytes
    iv: bytes
    tag: bytes
    #: ``ciphertextMetadata`` (None: the proxy returned none).
    metadata: bytes | None


def envelope(sealed: ProxyCiphertext) -> bytes:
    """The envelope that follows the header in the blob."""
    if len(sealed.iv) not in xks.IV_LENGTHS:
        raise ValueError("an XKS initialization vector has 12 or 16 bytes")
    metadata = sealed.metadata or b""
    if len(metadata) > xks.MAX_CIPHERTEXT_METADATA or len(sealed.tag) != xks.TAG_LEN:
        raise ValueError("ciphertextMetadata has at most 20 bytes, a tag 16")
    return b"".join(
        (
            bytes((VERSION, len(sealed.iv))),
            sealed.iv,
            bytes((len(metadata),)),
            metadata,
            sealed.tag,
            sealed.ciphertext,
        )
    )


def parse_envelope(data: bytes) -> ProxyCiphertext:
    """The proxy's fields of an envelope; any malformation is InvalidCiphertextException."""
    if len(data) < 2 or data[0] != VERSION or data[1] not in xks.IV_LENGTHS:
        raise InvalidCiphertextException()
    iv_end = 2 + data[1]
    if len(data) <= iv_end:
        raise InvalidCiphertextException()
    metadata_len = data[iv_end]
    if metadata_len > xks.MAX_CIPHERTEXT_METADATA:
        raise InvalidCiphertextException()
    tag_start = iv_end + 1 + metadata_len
    ciphertext_start = tag_start + xks.TAG_LEN
    if len(data) <= ciphertext_start:
        raise InvalidCiphertextException()
    return ProxyCiphertext(
        ciphertext=data[ciphertext_start:],
        iv=data[2:iv_end],
        tag=data[tag_start:ciphertext_start],
        metadata=data[iv_end + 1 : tag_start] if metadata_len else None,
    )
