"""Errors of the KMS API (names, statuses and faults from botocore's ``kms`` model).

Each class keeps its AWS name, because the wire layer renders its ``type_name``
(the class name) as ``__type``. The protocol and SigV4 errors KMS shares with the
other JSON APIs are in :mod:`openkms.errors.common`.
"""

from __future__ import annotations

from openkms.errors.base import AWSError


class KMSInternalException(AWSError):
    status = 500
    sender_fault = False


class NotFoundException(AWSError):
    pass


class InvalidArnException(AWSError):
    pass


class DisabledException(AWSError):
    pass


class KMSInvalidStateException(AWSError):
    pass


class InvalidCiphertextException(AWSError):
    pass


class IncorrectKeyException(AWSError):
    pass


class InvalidKeyUsageException(AWSError):
    pass


class AlreadyExistsException(AWSError):
    pass


class InvalidAliasNameException(AWSError):
    pass


class InvalidMarkerException(AWSError):
    pass


class LimitExceededException(AWSError):
    pass


class MalformedPolicyDocumentException(AWSError):
    pass


class TagException(AWSError):
    pass


class DryRunOperationException(AWSError):
    """The request would have succeeded; HTTP 412, as the API reference lists it."""

    status = 412


class InvalidGrantTokenException(AWSError):
    pass


class InvalidGrantIdException(AWSError):
    pass


class DependencyTimeoutException(AWSError):
    status = 500
    sender_fault = False


class KeyUnavailableException(AWSError):
    status = 500
    sender_fault = False


class KMSInvalidSignatureException(AWSError):
    pass


class KMSInvalidMacException(AWSError):
    pass


class ConflictException(AWSError):
    """The resource is being changed by another operation (an on-demand rotation)."""


class IncorrectKeyMaterialException(AWSError):
    """Imported key material that is not the key's, or not valid for its key spec."""


class ExpiredImportTokenException(AWSError):
    pass


class InvalidImportTokenException(AWSError):
    pass


# Custom key stores (AWS_CLOUDHSM: a PKCS#11 token registered as a "cluster").
class CloudHsmClusterInUseException(AWSError):
    pass


class CloudHsmClusterInvalidConfigurationException(AWSError):
    pass


class CloudHsmClusterNotActiveException(AWSError):
    pass


class CloudHsmClusterNotFoundException(AWSError):
    pass


class CloudHsmClusterNotRelatedException(AWSError):
    pass


class CustomKeyStoreHasCMKsException(AWSError):
    pass


class CustomKeyStoreInvalidStateException(AWSError):
    pass


class CustomKeyStoreNameInUseException(AWSError):
    pass


class CustomKeyStoreNotFoundException(AWSError):
    pass


class IncorrectTrustAnchorException(AWSError):
    pass


# External key stores (EXTERNAL_KEY_STORE): the XKS proxy and its external keys.
class XksKeyAlreadyInUseException(AWSError):
    pass


class XksKeyInvalidConfigurationException(AWSError):
    pass


class XksKeyNotFoundException(AWSError):
    pass


class XksProxyIncorrectAuthenticationCredentialException(AWSError):
    pass


class XksProxyInvalidConfigurationException(AWSError):
    pass


class XksProxyInvalidResponseException(AWSError):
    pass


class XksProxyUriEndpointInUseException(AWSError):
    pass


class XksProxyUriInUseException(AWSError):
    pass


class XksProxyUriUnreachableException(AWSError):
    pass


class XksProxyVpcEndpointServiceInUseException(AWSError):
    pass


class XksProxyVpcEndpointServiceInvalidConfigurationException(AWSError):
    pass


class XksProxyVpcEndpointServiceNotFoundException(AWSError):
    pass
