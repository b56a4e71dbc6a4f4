"""The AWS query protocol of IAM and STS: form-encoded requests, XML answers.

Request (``Content-Type: application/x-www-form-urlencoded``)::

    Action=GetUser&Version=2010-05-08&UserName=alice

Response: ``<GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
<GetUserResult>...</GetUserResult><ResponseMetadata><RequestId>..</RequestId>
</ResponseMetadata></GetUserResponse>``, members in model order, lists as
``<member>`` elements, timestamps in ISO 8601, IAM policy documents URL-encoded (as
AWS does; botocore decodes them back into dicts). Errors::

    <ErrorResponse xmlns="..."><Error><Type>Sender</Type><Code>NoSuchEntity</Code>
    <Message>...</Message></Error><RequestId>...</RequestId></ErrorResponse>

Everything about shapes comes from botocore's bundled ``iam``/``sts`` models (the same
data the SDKs are generated from). Errors raised in other layers are
:class:`~openkms.errors.AWSError` values; their query-protocol code is their
``type_name`` unless :data:`QUERY_CODES` renames one of the JSON-protocol names (the
authentication errors, ``AccessDeniedException`` ...).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape

import botocore
import botocore.loaders
import botocore.model

from openkms.errors import AWSError, UnknownOperationException, ValidationException
from openkms.wire.query_model import Check, compile_check, decode, form_tree, validate

CONTENT_TYPE: Final = b"text/xml"
FORM_TYPE: Final = "application/x-www-form-urlencoded"
#: API version of each query service this server speaks.
VERSIONS: Final = {"2010-05-08": "iam", "2011-06-15": "sts"}

#: JSON-protocol error names raised by shared layers, and their query-protocol
#: (code, HTTP status). "Common errors":
#: https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
QUERY_CODES: Final[Mapping[str, tuple[str, int]]] = {
    "UnrecognizedClientException": ("InvalidClientTokenId", 403),
    "ExpiredTokenException": ("ExpiredToken", 400),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403),
    "AccessDeniedException": ("AccessDenied", 403),
    "ValidationException": ("ValidationError", 400),
    "SerializationException": ("MalformedQueryString", 400),
    "MalformedPolicyDocumentException": ("MalformedPolicyDocument", 400),
    "UnknownOperationException": ("InvalidAction", 400),
    "UnsupportedOperationException": ("UnsupportedOperation", 400),
    "ThrottlingException": ("Throttling", 400),
    "LimitExceededException": ("LimitExceeded", 409),
}
_POLICY_SHAPES: Final = frozenset({"policyDocumentType"})
_RFC3986_SAFE: Final = "-_.~"


def _load(service: str) -> Any:
    builtin = os.path.join(botocore.BOTOCORE_ROOT, "data")
    loader = botocore.loaders.Loader(
        extra_search_paths=[builtin], include_default_search_paths=False
    )
    raw = loader.load_service_model(service, "service-2")
    return botocore.model.ServiceModel(raw, service_name=service)


def parse_form(body: bytes) -> dict[str, str]:
    """Form fields of a request body (a repeated name keeps its last value)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationException("The request body is not valid UTF-8.") from None
    return dict(parse_qsl(text, keep_blank_values=True))


class QueryProtocol:
    """Codec of one query-protocol service (``"iam"`` or ``"sts"``)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.model: Any = _load(service)
        self.namespace: str = self.model.metadata["xmlNamespace"]
        self.api_version: str = self.model.metadata["apiVersion"]
        self.operations: frozenset[str] = frozenset(self.model.operation_names)
        self.internal_code = "ServiceFailure" if service == "iam" else "InternalFailure"
        self._checks: dict[str, Check] = {}

    # --- requests -------------------------------------------------------------------

    def decode_request(self, form: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        """(operation, typed and validated members) of a parsed form."""
        action = form.get("Action", "")
        version = form.get("Version") or "NO_VERSION_SPECIFIED"
        if not action:
            raise UnknownOperationException("Missing Action")
        if action not in self.operations or version != self.api_version:
            raise UnknownOperationException(
                f"Could not find operation {action} for version {version}"
            )
        shape = self.model.operation_model(action).input_shape
        if shape is None:
            return action, {}
        params: dict[str, Any] = decode(shape, form_tree(form))
        check = self._checks.get(action)
        if check is None:
            check = self._checks[action] = compile_check(shape)
        validate(check, params)
        return action, params

    # --- responses ------------------------------------------------------------------

    def encode_response(self, operation: str, result: Mapping[str, Any], request_id: str) -> bytes:
        shape = self.model.operation_model(operation).output_shape
        out = [f'<{operation}Response xmlns="{self.namespace}">']
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{operation}Result")
            out.append(f"<{wrapper}>")
            _members(shape, result, out)
            out.append(f"</{wrapper}>")
        elif result:
            raise ValueError(f"{operation} has no output members, got {sorted(result)}")
        out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>")
        out.append(f"</{operation}Response>")
        return "".join(out).encode("utf-8")

    def error_code(self, error: AWSError) -> tuple[str, int]:
        if error.status >= 500:
            return self.internal_code, error.status
        return QUERY_CODES.get(error.type_name, (error.type_name, error.status))

    def encode_error(self, error: AWSError, request_id: str) -> tuple[int, bytes]:
        code, status = self.error_code(error)
        fault = "Sender" if status < 500 else "Receiver"
        body = (
            f'<ErrorResponse xmlns="{self.namespace}"><Error><Type>{fault}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(error.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return status, body.encode("utf-8")


def _members(shape: Any, value: Mapping[str, Any], out: list[str]) -> None:
    unknown = set(value) - set(shape.members)
    if unknown:
        raise ValueError(f"{shape.name} has no members {sorted(unknown)}")
    for name, member in shape.members.items():
        item = value.get(name)
        if item is None:
            continue
        tag = member.serialization.get("name", name)
        if member.type_name == "list" and member.serialization.get("flattened"):
            for element in item:
                out.append(f"<{tag}>")
                _value(member.member, element, out)
                out.append(f"</{tag}>")
            continue
        out.append(f"<{tag}>")
        _value(member, item, out)
        out.append(f"</{tag}>")


def _value(shape: Any, value: Any, out: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        _members(shape, value, out)
    elif kind == "list":
        tag = shape.member.serialization.get("name", "member")
        for element in value:
            out.append(f"<{tag}>")
            _value(shape.member, element, out)
            out.append(f"</{tag}>")
    elif kind == "map":
        for k, v in value.items():
            out.append("<entry><key>")
            _value(shape.key, k, out)
            out.append("</key><value>")
            _value(shape.value, v, out)
            out.append("</value></entry>")
    elif kind == "string":
        text = str(value)
        out.append(
            quote(text, safe=_RFC3986_SAFE) if shape.name in _POLICY_SHAPES else escape(text)
        )
    elif kind == "boolean":
        out.append("true" if value else "false")
    elif kind in ("integer", "long"):
        out.append(str(int(value)))
    elif kind == "timestamp":
        out.append(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(value))))
    elif kind == "blob":
        out.append(base64.b64encode(value).decode("ascii"))
    else:
        out.append(escape(str(value)))
