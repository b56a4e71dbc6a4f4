"""Trust anchor certificates of CloudHSM key stores: a PEM certificate, compared by its
DER encoding (so that line breaks and surrounding text do not matter)."""

from __future__ import annotations

from cryptography import x509


class CertificateError(ValueError):
    """The text is not one PEM X.509 certificate."""


def certificate_der(pem: str) -> bytes:
    """The DER encoding of a PEM certificate; raises :class:`CertificateError`."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise CertificateError("not a PEM X.509 certificate") from None
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate.public_bytes(Encoding.DER)


def same_certificate(first: str, second: str) -> bool:
    """Whether two PEM texts hold the same certificate (False if either is not one)."""
    try:
        return certificate_der(first) == certificate_der(second)
    except CertificateError:
        return False
