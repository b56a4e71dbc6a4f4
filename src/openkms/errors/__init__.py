"""AWS-facing errors: the one error tree every layer raises toward the caller.

    AWSError                                  base.py: __type, HTTP status, message
    ├── common.py       protocol and SigV4, every API (JSON 1.1 names; the query
    │   │               protocol renames them for IAM/STS: wire/query.py QUERY_CODES)
    │   ├── ValidationException, SerializationException, UnknownOperationException   400
    │   ├── MissingAuthenticationTokenException                                      403
    │   ├── IncompleteSignatureException, InvalidSignatureException,
    │   │   UnrecognizedClientException, ExpiredTokenException,
    │   │   AccessDeniedException, ThrottlingException,
    │   │   RequestHeaderSectionTooLarge, UnsupportedOperationException              400
    ├── kms.py          the KMS model's errors
    │   ├── NotFoundException, DisabledException, KMSInvalidStateException, ...      400
    │   ├── CustomKeyStore*Exception, CloudHsmCluster*Exception,
    │   │   IncorrectTrustAnchorException, XksProxy*Exception, XksKey*Exception
    │   │   (custom key stores)                                                      400
    │   ├── DryRunOperationException                                                 412
    │   └── KMSInternalException, DependencyTimeoutException,
    │       KeyUnavailableException                                                  500
    ├── cloudtrail.py   CloudTrail LookupEvents
    │   ├── InvalidLookupAttributesException, InvalidTimeRangeException,
    │   │   InvalidMaxResultsException, InvalidNextTokenException,
    │   │   InvalidEventCategoryException                                            400
    │   └── InternalFailure                                                          500
    ├── XKSError        xks.py: the XKS proxy API ({"errorName", "errorMessage"}),
    │                   type_name = the specification's name, 400-503
    └── IdentityError   iam.py: IAM and STS (query protocol), type_name = <Code>
        ├── NoSuchEntity 404; EntityAlreadyExists, DeleteConflict, LimitExceeded     409
        ├── MalformedPolicyDocument, InvalidInput, ValidationError,
        │   PackedPolicyTooLarge, UnsupportedOperation                               400
        └── AccessDenied                                                             403

Each class keeps its AWS name, because the wire layer renders ``type_name`` as
``__type`` (the class name, except where a module says otherwise). Internal errors
that never reach the caller end in ``Error`` and live in the layer that raises them.
Import from here (``from openkms.errors import NotFoundException``); the modules
only say which API an error belongs to.
"""

from __future__ import annotations

from openkms.errors.base import AWSError
from openkms.errors.cloudtrail import (
    InternalFailure,
    InvalidEventCategoryException,
    InvalidLookupAttributesException,
    InvalidMaxResultsException,
    InvalidNextTokenException,
    InvalidTimeRangeException,
)
from openkms.errors.common import (
    AccessDeniedException,
    ExpiredTokenException,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    RequestHeaderSectionTooLarge,
    SerializationException,
    ThrottlingException,
    UnknownOperationException,
    UnrecognizedClientException,
    UnsupportedOperationException,
    ValidationException,
)
from openkms.errors.iam import (
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    IdentityError,
    InvalidInput,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
    PackedPolicyTooLarge,
    UnsupportedOperation,
    ValidationError,
)
from openkms.errors.kms import (
    AlreadyExistsException,
    CloudHsmClusterInUseException,
    CloudHsmClusterInvalidConfigurationException,
    CloudHsmClusterNotActiveException,
    CloudHsmClusterNotFoundException,
    CloudHsmClusterNotRelatedException,
    ConflictException,
    CustomKeyStoreHasCMKsException,
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNameInUseException,
    CustomKeyStoreNotFoundException,
    DependencyTimeoutException,
    DisabledException,
    DryRunOperationException,
    ExpiredImportTokenException,
    IncorrectKeyException,
    IncorrectKeyMaterialException,
    IncorrectTrustAnchorException,
    InvalidAliasNameException,
    InvalidArnException,
    InvalidCiphertextException,
    InvalidGrantIdException,
    InvalidGrantTokenException,
    InvalidImportTokenException,
    InvalidKeyUsageException,
    InvalidMarkerException,
    KeyUnavailableException,
    KMSInternalException,
    KMSInvalidMacException,
    KMSInvalidSignatureException,
    KMSInvalidStateException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    NotFoundException,
    TagException,
    XksKeyAlreadyInUseException,
    XksKeyInvalidConfigurationException,
    XksKeyNotFoundException,
    XksProxyIncorrectAuthenticationCredentialException,
    XksProxyInvalidConfigurationException,
    XksProxyInvalidResponseException,
    XksProxyUriEndpointInUseException,
    XksProxyUriInUseException,
    XksProxyUriUnreachableException,
    XksProxyVpcEndpointServiceInUseException,
    XksProxyVpcEndpointServiceInvalidConfigurationException,
    XksProxyVpcEndpointServiceNotFoundException,
)

__all__ = [
    "CloudHsmClusterInUseException",
    "CloudHsmClusterInvalidConfigurationException",
    "CloudHsmClusterNotActiveException",
    "CloudHsmClusterNotFoundException",
    "CloudHsmClusterNotRelatedException",
    "CustomKeyStoreHasCMKsException",
    "CustomKeyStoreInvalidStateException",
    "CustomKeyStoreNameInUseException",
    "CustomKeyStoreNotFoundException",
    "IncorrectTrustAnchorException",
    "AccessDenied",
    "AccessDeniedException",
    "AlreadyExistsException",
    "ConflictException",
    "DeleteConflict",
    "DependencyTimeoutException",
    "DisabledException",
    "DryRunOperationException",
    "EntityAlreadyExists",
    "ExpiredImportTokenException",
    "ExpiredTokenException",
    "IdentityError",
    "IncompleteSignatureException",
    "IncorrectKeyException",
    "IncorrectKeyMaterialException",
    "InternalFailure",
    "InvalidAliasNameException",
    "InvalidArnException",
    "InvalidCiphertextException",
    "InvalidEventCategoryException",
    "InvalidGrantIdException",
    "InvalidGrantTokenException",
    "InvalidImportTokenException",
    "InvalidInput",
    "InvalidKeyUsageException",
    "InvalidLookupAttributesException",
    "InvalidMarkerException",
    "InvalidMaxResultsException",
    "InvalidNextTokenException",
    "InvalidSignatureException",
    "InvalidTimeRangeException",
    "AWSError",
    "KMSInternalException",
    "KMSInvalidMacException",
    "KMSInvalidSignatureException",
    "KMSInvalidStateException",
    "KeyUnavailableException",
    "LimitExceeded",
    "LimitExceededException",
    "MalformedPolicyDocument",
    "MalformedPolicyDocumentException",
    "MissingAuthenticationTokenException",
    "NoSuchEntity",
    "NotFoundException",
    "PackedPolicyTooLarge",
    "RequestHeaderSectionTooLarge",
    "SerializationException",
    "TagException",
    "ThrottlingException",
    "UnknownOperationException",
    "UnrecognizedClientException",
    "UnsupportedOperation",
    "UnsupportedOperationException",
    "ValidationError",
    "ValidationException",
    "XksKeyAlreadyInUseException",
    "XksKeyInvalidConfigurationException",
    "XksKeyNotFoundException",
    "XksProxyIncorrectAuthenticationCredentialException",
    "XksProxyInvalidConfigurationException",
    "XksProxyInvalidResponseException",
    "XksProxyUriEndpointInUseException",
    "XksProxyUriInUseException",
    "XksProxyUriUnreachableException",
    "XksProxyVpcEndpointServiceInUseException",
    "XksProxyVpcEndpointServiceInvalidConfigurationException",
    "XksProxyVpcEndpointServiceNotFoundException",
]
