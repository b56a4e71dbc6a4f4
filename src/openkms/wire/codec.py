"""AWS JSON 1.1 bodies: request decoding, response and error encoding.

Blob members leave the service layer as ``bytes`` and are written as standard
base64; timestamps are epoch seconds (floats), as botocore expects for this protocol.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson

from openkms.errors import AWSError, SerializationException

CONTENT_TYPE = b"application/x-amz-json-1.1"


def decode_request(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SerializationException(
            "Start of structure or map found where not expected."
        ) from None
    if not isinstance(value, dict):
        raise SerializationException("Start of structure or map found where not expected.")
    return value


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def encode_response(result: Mapping[str, object]) -> bytes:
    return orjson.dumps(result, default=_default)


def encode_error(error: AWSError) -> bytes:
    return orjson.dumps({"__type": error.type_name, "message": error.message})
